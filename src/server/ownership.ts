/**
 * Who may see which job. Every job records the client key (by name) and tenant that made it; a
 * request sees its key's own jobs, or its tenant's when the key entry says `sees: "tenant"`, or
 * every job with the `admin` scope. A job the caller may not see is answered exactly as a job that
 * does not exist (404 TL_ERR_JOB_NOT_FOUND), so ids of other tenants' jobs cannot be probed.
 * With no client keys configured (auth off, one local user) everything is visible, as before.
 */
import { authError, jobNotFound, ValidationError } from '../errors.js';
import type { JobOwner, JobRecord } from '../jobs/types.js';
import type { Principal } from './auth.js';

/** The header a key with `tenantHeader: true` names the tenant of a request with. */
export const TENANT_HEADER = 'x-tasklane-tenant';

/** What one request may see, and whom the jobs it makes belong to. */
export interface Viewer {
  /** Sees every job (admin scope, or auth off). */
  all: boolean;
  /** Recorded on the jobs this request makes; undefined with auth off. */
  owner?: JobOwner;
  /** The jobs it sees, as a list filter (every field set must match); undefined when `all`. */
  filter?: { key?: string; tenant?: string };
}

/** Principal as it travels in a stream token: the viewer is fixed when the token is minted. */
export interface ViewingPrincipal extends Principal {
  viewer?: Viewer;
}

const TENANT_TEXT = /^[^\u0000-\u001f\u007f]{1,100}$/;

/**
 * The viewer of a request. `x-tasklane-tenant` is honoured only for keys whose entry has
 * `tenantHeader: true`; from another key it is refused (403), unless it names the key's own tenant.
 */
export function viewerOf(principal: ViewingPrincipal, tenantHeader?: string | string[]): Viewer {
  if (principal.viewer) return principal.viewer;
  if (principal.name === undefined) return { all: true };
  const header = Array.isArray(tenantHeader) ? tenantHeader[0] : tenantHeader;
  let tenant = principal.tenant;
  if (header !== undefined) {
    const named = header.trim();
    if (!TENANT_TEXT.test(named)) {
      throw new ValidationError(`invalid ${TENANT_HEADER} header: use 1 to 100 printable characters`);
    }
    if (!principal.tenantHeader && named !== principal.tenant) {
      throw authError(
        'TL_ERR_AUTH_FORBIDDEN',
        `this key may not choose a tenant with ${TENANT_HEADER}; set tenantHeader: true on its entry in server.apiKeys`,
      );
    }
    tenant = named;
  }
  const owner: JobOwner = tenant !== undefined ? { key: principal.name, tenant } : { key: principal.name };
  if (principal.scopes.includes('admin')) return { all: true, owner };
  if (principal.sees === 'tenant' && tenant !== undefined) return { all: false, owner, filter: { tenant } };
  // A key acting for one tenant (by the header) sees its own jobs of that tenant only.
  return { all: false, owner, filter: header !== undefined ? { key: principal.name, tenant } : { key: principal.name } };
}

/** Whether the viewer may see (read, follow, cancel, retry) the job. */
export function canSee(viewer: Viewer, job: Pick<JobRecord, 'owner'>): boolean {
  if (viewer.all) return true;
  const f = viewer.filter!;
  if (f.key !== undefined && job.owner?.key !== f.key) return false;
  if (f.tenant !== undefined && job.owner?.tenant !== f.tenant) return false;
  return true;
}

/** The job when the viewer may see it; else the same 404 as for an id that does not exist. */
export function visibleOr404<T extends Pick<JobRecord, 'owner'>>(viewer: Viewer, id: string, job: T | undefined): T {
  if (!job || !canSee(viewer, job)) throw jobNotFound(id);
  return job;
}

/** The same 404 as a missing job (errors.ts), re-exported for the routes that answer it. */
export { jobNotFound };
