// RFC 9457 problem documents (application/problem+json).
export const PROBLEM_CONTENT_TYPE = "application/problem+json";
export const PROBLEM_TYPE_BASE = "https://covenant.dev/problems/";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

const TITLES: Record<number, [slug: string, title: string]> = {
  400: ["bad-request", "Bad Request"],
  404: ["not-found", "Not Found"],
  405: ["method-not-allowed", "Method Not Allowed"],
  413: ["payload-too-large", "Payload Too Large"],
  415: ["unsupported-media-type", "Unsupported Media Type"],
  500: ["internal-error", "Internal Server Error"],
  503: ["service-unavailable", "Service Unavailable"],
};

export function problem(status: number, detail: string, slug?: string, title?: string): Problem {
  const [defaultSlug, defaultTitle] = TITLES[status] ?? ["error", "Error"];
  return {
    type: PROBLEM_TYPE_BASE + (slug ?? defaultSlug),
    title: title ?? defaultTitle,
    status,
    detail,
  };
}

export function problemResponse(
  p: Problem,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, ...headers },
  });
}
