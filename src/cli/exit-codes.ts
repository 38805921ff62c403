/** The one exit-code table (also in README.md "CLI"). */
export const EXIT_CODES = `Exit codes:
  0    success (a watched job succeeded; serve stopped cleanly; doctor: every check passed)
  1    failure (a job ended dead or cancelled, the server is unreachable or failed, a check failed)
  2    usage or configuration error (bad flag or input, unknown task, port in use, another host without keys)
  130  interrupted (Ctrl+C while watching: the job itself keeps running)`;
