/* Catalogue page of the PZ Server: search, facets, sorting and paging over
 * /api/v1/products.json, entirely in the browser (no dependencies, no build step).
 *
 * Fills every <div class="pz-catalog" data-api=... data-types=... data-products=...
 * data-preset="official=true">. Metadata is untrusted: the DOM is built with
 * createElement/textContent only, and ids are percent-encoded in links.
 * The state (query, facets, sort, shown) lives in the query string (history.replaceState).
 */
(function () {
  "use strict";

  var QUERY = "query";     // not "q": mkdocs-material opens its own search on ?q=
  var PAGE = 100;          // rows rendered at first and added by "Show more"
  var TOP_TAGS = 30;
  var FACETS = [            // key in the URL, heading, values of a product (strings)
    { key: "type", label: "Type", values: function (p) { return one(p.product_type); } },
    { key: "release", label: "Release", values: function (p) { return one(p.release); } },
    { key: "official", label: "Official", values: function (p) { return [p.official === true ? "true" : "false"]; } },
    { key: "status", label: "Status", values: function (p) { return one(p.status); } },
    { key: "survey", label: "Survey", values: function (p) { return strings(p.survey); } },
    { key: "tags", label: "Tags", values: function (p) { return strings(p.tags); }, limit: TOP_TAGS },
    { key: "owner", label: "Owner", values: function (p) { return one(p.owner); } }
  ];
  var SORTS = {              // sort key: value of a product (null sorts last either way)
    title: function (p) { return typeof p.title === "string" ? p.title : null; },
    created: function (p) { return typeof p.created === "string" ? p.created : null; },
    rows: function (p) { return typeof p.num_rows === "number" ? p.num_rows : null; }
  };

  function one(v) { return v === null || v === undefined || v === "" ? [] : [String(v)]; }
  function strings(v) { return Array.isArray(v) ? v.filter(function (x) { return x !== null && x !== undefined; }).map(String) : []; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) { Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); }); }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function fmt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : ""; }

  function Catalog(root) {
    this.root = root;
    this.preset = new URLSearchParams(root.getAttribute("data-preset") || "");
    this.productsBase = root.getAttribute("data-products") || "../products/";
    this.typeNames = {};
    this.orders = {};
    this.state = this.readUrl();
  }

  Catalog.prototype.readUrl = function () {
    var params = new URLSearchParams(window.location.search);
    var state = { q: params.get(QUERY) || "", facets: {}, sort: "title", desc: false, shown: PAGE };
    FACETS.forEach(function (f) { state.facets[f.key] = new Set(params.getAll(f.key)); });
    var sort = params.get("sort") || "";
    if (sort.charAt(0) === "-") { state.desc = true; sort = sort.slice(1); }
    if (Object.prototype.hasOwnProperty.call(SORTS, sort)) { state.sort = sort; } else { state.desc = false; }
    var shown = parseInt(params.get("shown") || "", 10);
    if (shown > PAGE) { state.shown = shown; }
    return state;
  };

  Catalog.prototype.writeUrl = function () {
    var s = this.state, params = new URLSearchParams();
    if (s.q) { params.set(QUERY, s.q); }
    FACETS.forEach(function (f) { s.facets[f.key].forEach(function (v) { params.append(f.key, v); }); });
    if (s.sort !== "title" || s.desc) { params.set("sort", (s.desc ? "-" : "") + s.sort); }
    if (s.shown > PAGE) { params.set("shown", String(s.shown)); }
    var query = params.toString();
    history.replaceState(history.state, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  };

  Catalog.prototype.load = function () {
    var self = this;
    var status = el("p", { "class": "pz-catalog__status", role: "status" }, "Loading products…");
    this.root.appendChild(status);
    var types = fetch(this.root.getAttribute("data-types") || "../api/v1/product-types.json")
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
    var products = fetch(this.root.getAttribute("data-api")).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
    Promise.all([products, types]).then(function (got) {
      self.root.removeChild(status);
      self.init(got[0], got[1]);
    }).catch(function (err) {
      status.textContent = "The list of products cannot be loaded (" + err.message + ").";
    });
  };

  Catalog.prototype.init = function (data, types) {
    var self = this;
    ((types && types.product_types) || []).forEach(function (t) {
      if (t && typeof t.name === "string") { self.typeNames[t.name] = String(t.display_name || t.name); }
    });
    var all = Array.isArray(data && data.products) ? data.products : [];
    // The page's preset (e.g. official=true) is a fixed filter, outside the URL state.
    this.products = all.filter(function (p) {
      return FACETS.every(function (f) {
        var want = self.preset.getAll(f.key);
        return !want.length || f.values(p).some(function (v) { return want.indexOf(v) >= 0; });
      });
    });
    // Everything a keystroke needs, computed once per product.
    this.items = this.products.map(function (p, i) {
      var hay = [p.id, p.title, p.summary, strings(p.columns).join(" "), strings(p.tags).join(" "),
        strings(p.survey).join(" ")].filter(function (x) { return x !== null && x !== undefined; }).join("\n");
      return { p: p, i: i, hay: hay.toLowerCase(), values: FACETS.map(function (f) { return f.values(p); }) };
    });
    this.build();
    this.update(false);
  };

  Catalog.prototype.build = function () {
    var self = this, s = this.state;
    var search = el("input", { type: "search", "class": "pz-catalog__search md-input",
      placeholder: "Search id, title, summary, columns, tags, survey", "aria-label": "Search products" });
    search.value = s.q;
    // No debounce (it would cost its own delay on every keystroke): keystrokes that arrive while
    // an update is pending are folded into it, so fast typing never queues up filter passes.
    var pending = false;
    search.addEventListener("input", function () {
      if (pending) { return; }
      pending = true;
      setTimeout(function () { pending = false; s.q = search.value; s.shown = PAGE; self.update(true); }, 0);
    });
    this.search = search;

    var filters = el("details", { "class": "pz-catalog__filters" });
    filters.open = !window.matchMedia("(max-width: 59.9375em)").matches;  // collapsed on phones
    filters.appendChild(el("summary", null, "Filters"));
    var clear = el("button", { type: "button", "class": "pz-catalog__clear" }, "Clear filters");
    clear.addEventListener("click", function () {
      FACETS.forEach(function (f) { s.facets[f.key].clear(); });
      s.q = ""; search.value = ""; s.shown = PAGE;
      self.update(true);
    });
    filters.appendChild(clear);
    this.facetLists = FACETS.map(function (f) {
      var box = el("fieldset", { "class": "pz-catalog__facet", "data-facet": f.key });
      box.appendChild(el("legend", null, f.label));
      var list = el("ul");
      box.appendChild(list);
      filters.appendChild(box);
      list.addEventListener("change", function (ev) {
        var input = ev.target;
        if (input.checked) { s.facets[f.key].add(input.value); } else { s.facets[f.key].delete(input.value); }
        s.shown = PAGE;
        self.update(true);
      });
      return { box: box, list: list };
    });

    var main = el("div", { "class": "pz-catalog__main" });
    main.appendChild(search);
    this.status = el("p", { "class": "pz-catalog__status", role: "status", "aria-live": "polite" });
    main.appendChild(this.status);
    var wrap = el("div", { "class": "pz-catalog__table" });
    var table = el("table");
    var head = el("tr");
    this.headers = {};
    [["ID"], ["Title", "title"], ["Type"], ["Release"], ["Official"], ["Status"], ["Rows", "rows"], ["Created", "created"]]
      .forEach(function (h) {
        var th = el("th", { scope: "col" });
        if (h[1]) {
          var button = el("button", { type: "button", "class": "pz-catalog__sort", "data-sort": h[1] }, h[0]);
          button.addEventListener("click", function () {
            s.desc = s.sort === h[1] ? !s.desc : h[1] !== "title";  // numbers and dates: largest first
            s.sort = h[1];
            self.update(true);
          });
          th.appendChild(button);
          self.headers[h[1]] = th;
        } else {
          th.textContent = h[0];
        }
        head.appendChild(th);
      });
    table.appendChild(el("thead")).appendChild(head);
    this.tbody = table.appendChild(el("tbody"));
    wrap.appendChild(table);
    main.appendChild(wrap);
    this.more = el("button", { type: "button", "class": "md-button pz-catalog__more" }, "Show more");
    this.more.addEventListener("click", function () { s.shown += PAGE; self.update(true); });
    main.appendChild(this.more);

    this.root.appendChild(filters);
    this.root.appendChild(main);
  };

  /** Products in the order of a sort key, computed once per key (nulls last both ways). */
  Catalog.prototype.order = function (key, desc) {
    var name = key + (desc ? "-" : "+");
    if (!this.orders[name]) {
      var get = SORTS[key], valued = [], nulls = [];
      this.items.forEach(function (it) { (get(it.p) === null ? nulls : valued).push(it); });
      var cmp = key === "title"
        ? function (a, b) { return get(a.p).localeCompare(get(b.p)) || a.i - b.i; }
        : function (a, b) { var x = get(a.p), y = get(b.p); return (x < y ? -1 : x > y ? 1 : 0) || a.i - b.i; };
      valued.sort(cmp);
      this.orders[name] = (desc ? valued.reverse() : valued).concat(nulls);
    }
    return this.orders[name];
  };

  Catalog.prototype.update = function (push) {
    var s = this.state, nf = FACETS.length;
    var words = s.q.toLowerCase().split(/\s+/).filter(Boolean);
    var selected = FACETS.map(function (f) { return s.facets[f.key]; });
    var counts = FACETS.map(function () { return new Map(); });
    var matches = [];
    var order = this.order(s.sort, s.desc);
    for (var n = 0; n < order.length; n++) {
      var it = order[n], ok = true, w;
      for (w = 0; w < words.length; w++) { if (it.hay.indexOf(words[w]) < 0) { ok = false; break; } }
      if (!ok) { continue; }
      // A facet's counts ignore its own selection: count into every facet when all pass,
      // into the only failing one otherwise.
      var failed = -1, fails = 0;
      for (var f = 0; f < nf && fails < 2; f++) {
        var sel = selected[f];
        if (sel.size && !it.values[f].some(function (v) { return sel.has(v); })) { failed = f; fails++; }
      }
      if (fails === 0) { matches.push(it); }
      if (fails >= 2) { continue; }
      for (f = 0; f < nf; f++) {
        if (fails === 1 && f !== failed) { continue; }
        var vals = it.values[f], c = counts[f];
        for (var k = 0; k < vals.length; k++) { c.set(vals[k], (c.get(vals[k]) || 0) + 1); }
      }
    }
    this.renderFacets(counts);
    this.renderRows(matches);
    if (push) { this.writeUrl(); }
  };

  Catalog.prototype.label = function (key, value) {
    if (key === "type") { return this.typeNames[value] || value; }
    if (key === "official") { return value === "true" ? "Official" : "Not official"; }
    return value;
  };

  Catalog.prototype.renderFacets = function (counts) {
    var self = this, s = this.state;
    var active = document.activeElement, focus = null;
    if (active && active.type === "checkbox" && this.root.contains(active)) {
      focus = [active.getAttribute("data-facet"), active.value];
    }
    FACETS.forEach(function (f, i) {
      var c = counts[i], sel = s.facets[f.key];
      var values = Array.from(c.keys()).sort(function (a, b) { return c.get(b) - c.get(a) || (a < b ? -1 : a > b ? 1 : 0); });
      if (f.limit) { values = values.slice(0, f.limit); }
      sel.forEach(function (v) { if (values.indexOf(v) < 0) { values.push(v); } });  // never hide a choice made
      var list = self.facetLists[i].list, frag = document.createDocumentFragment();
      values.forEach(function (v) {
        var id = "pz-" + f.key + "-" + i + "-" + frag.childNodes.length;
        var li = el("li");
        var input = el("input", { type: "checkbox", id: id, "data-facet": f.key });
        input.value = v;
        input.checked = sel.has(v);
        var label = el("label", { "for": id });
        label.appendChild(el("span", { "class": "pz-catalog__value" }, self.label(f.key, v)));
        label.appendChild(el("span", { "class": "pz-catalog__count" }, fmt(c.get(v) || 0)));
        li.appendChild(input);
        li.appendChild(label);
        frag.appendChild(li);
        if (focus && focus[0] === f.key && focus[1] === v) { focus = input; }
      });
      list.replaceChildren(frag);
      self.facetLists[i].box.hidden = values.length === 0;
    });
    if (focus && focus.focus) { focus.focus(); }
  };

  Catalog.prototype.renderRows = function (matches) {
    var self = this, s = this.state;
    var shown = Math.min(s.shown, matches.length), frag = document.createDocumentFragment();
    for (var n = 0; n < shown; n++) {
      var p = matches[n].p, tr = el("tr");
      var idCell = el("td"), link = el("a", { href: this.productsBase + encodeURIComponent(String(p.id)) + "/" }, p.id);
      idCell.appendChild(link);
      tr.appendChild(idCell);
      tr.appendChild(el("td", null, p.title));
      tr.appendChild(el("td", null, self.label("type", String(p.product_type || ""))));
      tr.appendChild(el("td", null, p.release));
      var off = el("td");
      if (p.official === true) { off.appendChild(el("span", { "class": "pz-catalog__badge" }, "official")); }
      tr.appendChild(off);
      tr.appendChild(el("td", null, p.status));
      tr.appendChild(el("td", { "class": "pz-catalog__num" }, fmt(p.num_rows)));
      tr.appendChild(el("td", null, p.created));
      frag.appendChild(tr);
    }
    this.tbody.replaceChildren(frag);
    var total = this.items.length;
    this.status.textContent = fmt(shown) + " of " + fmt(matches.length) + " products" +
      (matches.length < total ? " (" + fmt(total) + " in total)" : "");
    this.more.hidden = shown >= matches.length;
    Object.keys(this.headers).forEach(function (key) {
      var th = self.headers[key];
      if (key === s.sort) { th.setAttribute("aria-sort", s.desc ? "descending" : "ascending"); } else { th.removeAttribute("aria-sort"); }
    });
  };

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".pz-catalog"), function (root) {
      if (!root.hasAttribute("data-ready")) { root.setAttribute("data-ready", ""); new Catalog(root).load(); }
    });
  }
  // With the theme's instant navigation, pages swap in without a load event: document$ says when.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(start);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
