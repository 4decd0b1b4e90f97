// The team's Worker: what it serves does not matter here; how it reaches production does.
export default {
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return new Response("ok");
    return new Response("served by team-app\n");
  },
};
