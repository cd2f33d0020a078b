// Path routing (livetag/dom/router.py, PathRouter): when the page holds a path router
// (an element with data-lt-router="path"), a click on a link to a path under the app's
// mount does not reload the page: the URL is pushed (History API) and each path router
// gets a "navigate" event with the new URL's path and query; Back/Forward (popstate) do
// the same. Everything else is the browser's: links elsewhere, links with a target,
// download links, modifier or middle clicks, links marked data-lt-reload, in-page anchors.
import { PATH } from "./protocol.js";

export const ROUTER_SELECTOR = '[data-lt-router="path"]';
export const NAVIGATE = "navigate";

// `url` (a URL) is a page of the app mounted at `base` ("" or "/sub"), not one of livetag's endpoints.
export function underMount(url, base) {
  if (url.origin !== location.origin) return false;
  const path = url.pathname;
  if (base && path !== base && !path.startsWith(base + "/")) return false;
  return !path.startsWith(base + PATH.WS.slice(0, PATH.WS.lastIndexOf("/") + 1));
}

// The link a click should turn into a navigation, or null: let the browser have it.
export function routedLink(e, base) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return null;
  const a = e.target instanceof Element ? e.target.closest("a[href]") : null;
  if (!a || a.hasAttribute("download") || a.hasAttribute("data-lt-reload")) return null;
  const target = a.getAttribute("target");
  if (target && target !== "_self") return null;
  if ((a.getAttribute("rel") || "").split(/\s+/).includes("external")) return null;
  const url = new URL(a.href, location.href);
  if (!underMount(url, base)) return null;
  // Only the fragment differs: an in-page anchor (or a hash router's link).
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return null;
  return url;
}

// `send(id, name, data)` sends one event (session.js); `base` is the page's mount path.
export class PathLinks {
  constructor(send, base) {
    this.send = send;
    this.base = base;
    this.onClick = (e) => this.click(e);
    this.onPopState = () => this.tell(location);
  }

  // Listens on the window, after the document's listeners (events.js): a handler of the
  // page that prevents the click's default keeps the link to itself.
  start() {
    window.addEventListener("click", this.onClick);
    window.addEventListener("popstate", this.onPopState);
  }

  click(e) {
    if (!document.querySelector(ROUTER_SELECTOR)) return;
    const url = routedLink(e, this.base);
    if (!url) return;
    e.preventDefault();
    if (url.href !== location.href) history.pushState(null, "", url.href);
    this.tell(url);
  }

  tell(url) {
    for (const el of document.querySelectorAll(ROUTER_SELECTOR)) {
      this.send(el.id, NAVIGATE, { value: url.pathname + url.search });
    }
  }
}
