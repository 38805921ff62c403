// The smallest task: one number in, one out. Used as is by raw Piscina and by a thread lane.
export default function trivial(input) {
  return input + 1;
}
