// The smallest Worker Clodo deploys: one module, no bindings.
export default {
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return new Response("ok");
    return new Response("hello from a Worker deployed by Clodo\n");
  },
};
