// The part of autocannon's API the admission benchmark uses (the package ships no types, and
// @types/autocannon is not a dependency of this project).
declare module "autocannon" {
  namespace autocannon {
    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      connections?: number;
      duration?: number;
      overallRate?: number;
      tlsOptions?: Record<string, unknown>;
    }
    interface Histogram {
      average: number;
      p50: number;
      p90: number;
      p99: number;
      p99_9: number;
      max: number;
    }
    interface Result {
      requests: Histogram & { total: number };
      latency: Histogram;
      non2xx: number;
      errors: number;
      timeouts: number;
    }
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export default autocannon;
}
