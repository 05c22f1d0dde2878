// The region chooser (templates/_pickers.html): type a name in Chinese or pinyin (initials or
// whole, e.g. 江岸 / jaq / jiangan) and pick from the matches with the arrow keys and Enter, or
// choose province → city → county level by level. Only the regions of the user's scope are in
// the data. The form then sends the code (the URL keeps it for bookmarking); whatever was typed
// without picking is sent as typed and the page looks the name up.
(function () {
  "use strict";
  var LEVELS = {1: "省（自治区、直辖市）", 2: "市（地区、州）", 3: "区县"};
  var MAX_MATCHES = 12;

  function setup(box) {
    var id = box.getAttribute("data-region-picker");
    var input = document.getElementById(id);
    var list = document.getElementById(id + "-list");
    var levels = document.getElementById(id + "-levels");
    if (!input || !list || !levels) return;
    var rows = JSON.parse(box.getAttribute("data-regions") || "[]");
    var byCode = {}, children = {}, roots = [];
    rows.forEach(function (r) {
      var region = {code: r[0], name: r[1], full: r[2], parent: r[3], level: r[4], ini: r[5], py: r[6]};
      byCode[region.code] = region;
    });
    rows.forEach(function (r) {
      var region = byCode[r[0]];
      if (region.parent && byCode[region.parent]) {
        (children[region.parent] = children[region.parent] || []).push(region);
      } else {
        roots.push(region);
      }
    });
    // The whole pinyin of the full name, so "wuhanshijiang" finds 江岸区 too.
    Object.keys(byCode).forEach(function (code) {
      var r = byCode[code], path = [], p = r;
      while (p) { path.unshift(p.py); p = byCode[p.parent]; }
      r.fullPy = path.join("");
    });

    // The code goes in a hidden field of the same name; the text box becomes a combobox.
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = input.name;
    field.value = input.getAttribute("data-code") || input.value;
    input.removeAttribute("name");
    input.after(field);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    var form = input.form, active = -1, shown = [];

    function changed() {
      if (form) form.dispatchEvent(new Event("input", {bubbles: true}));
    }

    // --- level by level ---
    function pathOf(code) {
      var path = [], r = byCode[code];
      while (r) { path.unshift(r.code); r = byCode[r.parent]; }
      return path;
    }
    function levelSelect(options, chosen, depth) {
      var wrap = document.createElement("div");
      wrap.className = "region-level";
      var sid = id + "-level-" + depth, label = document.createElement("label");
      label.htmlFor = sid;
      label.textContent = LEVELS[options[0].level] || "下级区划";
      var select = document.createElement("select");
      select.id = sid;
      select.setAttribute("data-depth", String(depth));
      var all = document.createElement("option");
      all.value = "";
      all.textContent = depth === 0 ? "全部" : "全部（含下级）";
      select.appendChild(all);
      options.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r.code;
        o.textContent = r.name;
        if (r.code === chosen) o.selected = true;
        select.appendChild(o);
      });
      select.addEventListener("change", function () {
        var code = select.value;
        if (!code) {
          var up = depth > 0 ? levels.querySelector("select[data-depth='" + (depth - 1) + "']") : null;
          code = up ? up.value : "";
        }
        choose(code, false);
        var next = levels.querySelector("select[data-depth='" + (depth + 1) + "']");
        if (next && select.value) next.focus();
      });
      wrap.appendChild(label);
      wrap.appendChild(select);
      return wrap;
    }
    function drawLevels(code) {
      levels.textContent = "";
      var path = pathOf(code), options = roots, depth = 0;
      while (options && options.length) {
        var chosen = path.filter(function (c) { return options.some(function (r) { return r.code === c; }); })[0];
        levels.appendChild(levelSelect(options, chosen, depth));
        if (!chosen) break;
        options = children[chosen];
        depth += 1;
      }
    }

    // --- typed search ---
    function normal(text) { return text.toLowerCase().replace(/[\s'’·]/g, ""); }
    function matches(text) {
      var q = normal(text);
      if (!q) return [];
      var latin = /^[a-z]+$/.test(q), found = [];
      for (var code in byCode) {
        var r = byCode[code], score = -1;
        if (latin) {
          if (r.ini.indexOf(q) === 0) score = 0;
          else if (r.py.indexOf(q) === 0) score = 1;
          else if (r.fullPy.indexOf(q) >= 0) score = 2;
        } else if (r.name.indexOf(q) === 0) score = 0;
        else if (r.full.indexOf(q) >= 0) score = 1;
        if (score >= 0) found.push({r: r, score: score});
      }
      found.sort(function (a, b) { return a.score - b.score || a.r.level - b.r.level || (a.r.code < b.r.code ? -1 : 1); });
      return found.slice(0, MAX_MATCHES).map(function (f) { return f.r; });
    }
    function close() {
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
      shown = [];
    }
    function highlight(index) {
      var items = list.querySelectorAll("[role=option]");
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({block: "nearest"});
    }
    function open(found) {
      list.textContent = "";
      shown = found;
      active = -1;
      input.removeAttribute("aria-activedescendant");
      if (!found.length) { close(); return; }
      found.forEach(function (r, i) {
        var li = document.createElement("li");
        li.id = id + "-opt-" + r.code;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.setAttribute("data-code", r.code);
        li.textContent = r.full;
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });
        li.addEventListener("click", function () { choose(r.code, true); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
    function choose(code, fromList) {
      var r = byCode[code];
      field.value = code || "";
      input.value = r ? r.full : "";
      close();
      drawLevels(code);
      if (fromList) input.focus();
      changed();
    }

    input.addEventListener("input", function () {
      // Until a region is picked, the typed text is what the form sends (the page looks it up).
      field.value = input.value.trim();
      if (!field.value) drawLevels("");
      open(matches(input.value));
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        if (list.hidden) open(matches(input.value));
        if (!shown.length) return;
        e.preventDefault();
        highlight(active + (e.key === "ArrowDown" ? 1 : -1));
      } else if (e.key === "Enter" && !list.hidden && shown.length) {
        e.preventDefault();
        choose(shown[active >= 0 ? active : 0].code, true);
      } else if (e.key === "Escape" && !list.hidden) {
        e.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    drawLevels(byCode[field.value] ? field.value : "");
  }

  document.querySelectorAll("[data-region-picker]").forEach(setup);
})();
