// Keeps the CPU busy for `ms` without yielding: what a parser, a scorer or a spreadsheet build does.
export default function cpuBurn(input) {
  const end = performance.now() + input.ms;
  let x = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) x = (x + i * i) % 1_000_003;
  }
  return x;
}
