/* The viewer's behaviour: the trace page's timeline, plots, stats, churn, event detail and
   replay scrubber. No build step: one IIFE, loaded with `defer`, wired by addEventListener
   from data-* attributes (the Content-Security-Policy allows no inline script).

   Safety rule: HTML only ever comes from the server's own fragments, which escape every
   recorded string; text that arrives as JSON (lane names, file names, stats) is put in place
   with textContent, never as markup. */
(function () {
  "use strict";

  var PASS = "#1a7f37";
  var FAIL = "#cf222e";
  // One colour per type lane (Edits, Commands, Tests, Commits, Notes, CI, Agent, Other),
  // each at least 3:1 against white.
  var LANE_COLOURS = ["#0969da", "#8250df", "#1a7f37", "#bc4c00", "#9a6700", "#0e7490", "#bf3989", "#59636e"];
  var EVENT_REF = /^(?:[0-9a-f]{64}|i[0-9]+)$/;
  var FETCH_HEADERS = { "X-Requested-With": "fetch" };

  function byId(id) {
    return document.getElementById(id);
  }

  function getText(url) {
    return fetch(url, { credentials: "same-origin", headers: FETCH_HEADERS }).then(function (response) {
      return response.text().then(function (text) {
        if (!response.ok) {
          var error = new Error(text || response.statusText);
          error.status = response.status;
          throw error;
        }
        return text;
      });
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: FETCH_HEADERS }).then(function (response) {
      if (!response.ok) {
        throw new Error("the overview did not load (" + response.status + ")");
      }
      return response.json();
    });
  }

  // A server fragment into `target`; a newer load into the same target wins over an older one.
  var loads = new WeakMap();
  function loadFragment(target, url) {
    var ticket = (loads.get(target) || 0) + 1;
    loads.set(target, ticket);
    target.setAttribute("aria-busy", "true");
    return getText(url).then(
      function (html) {
        if (loads.get(target) !== ticket) return false;
        target.innerHTML = html; // server-rendered and escaped: see the rule at the top
        target.removeAttribute("aria-busy");
        return true;
      },
      function (error) {
        if (loads.get(target) !== ticket) return false;
        showProblem(target, error);
        target.removeAttribute("aria-busy");
        return false;
      }
    );
  }

  function showProblem(target, error) {
    var p = document.createElement("p");
    p.className = "error-message";
    p.textContent = error && error.message ? error.message : "This could not be loaded.";
    target.replaceChildren(p);
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fn.apply(null, args);
      }, ms);
    };
  }

  function smoothScroll() {
    return !(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  // One short line for screen readers (the big regions are not live: a diff read aloud on
  // every click would drown the reader).
  function announce(text) {
    var status = byId("status-line");
    if (!status) return;
    status.textContent = "";
    // a fresh text node after a clear is announced even when the line repeats
    setTimeout(function () {
      status.textContent = text;
    }, 30);
  }

  function formatTime(ms) {
    if (ms === null || ms === undefined) return "";
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function formatSeconds(s) {
    if (s === null || s === undefined) return "—";
    s = Math.round(s);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + sec + "s";
    return sec + "s";
  }

  /* ---------------------------------------------------------------- the trace page */

  function TracePage(root) {
    this.root = root;
    this.traceId = root.dataset.traceId;
    this.base = "/ui/traces/" + encodeURIComponent(this.traceId);
    this.detail = byId("detail");
    this.data = null;
    this.selected = -1; // index into data.points
    this.laneBy = "type";
    this.selectedPath = null;
    this.rowsTicket = 0; // bumped when the table's rows are replaced: older pages are dropped
    this.rowsType = ""; // the type the table's rows are filtered by
    this.scrubbed = false; // the reader moved the scrubber before the overview came
  }

  TracePage.prototype.start = function () {
    var self = this;
    this.wireEvents();
    this.wireReplay();
    var overview = byId("overview");
    getJSON(overview.dataset.src).then(
      function (data) {
        self.data = data;
        self.onOverview();
      },
      function (error) {
        var status = byId("overview-status");
        status.classList.add("error-message");
        status.textContent = error.message;
        document.body.dataset.ready = "error";
      }
    );
  };

  TracePage.prototype.onOverview = function () {
    var data = this.data;
    byId("overview-status").textContent = "";
    this.timeline = new Timeline(byId("lanes"), data, this);
    // a detail opened by its address (`?event=`) is the timeline's selection too
    var opened = new URLSearchParams(window.location.search).get("event");
    if (opened && EVENT_REF.test(opened)) this.selected = this.indexOfRef(opened);
    this.timeline.draw();
    this.renderStats(data.stats || {});
    this.renderChurn(data.churn || []);
    this.renderPlots(data);
    this.setupScrubber(data.seqs);
    document.body.dataset.ready = "1";
    if (window.performance && performance.mark) performance.mark("prtrace-overview");
  };

  /* the event table and the detail panel */

  TracePage.prototype.wireEvents = function () {
    var self = this;
    var table = byId("events");
    table.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      var row = event.target.closest("tr.event-row");
      if (!row) return;
      event.preventDefault();
      self.openRef(row.dataset.eventId, row);
    });
    document.addEventListener("click", function (event) {
      var more = event.target.closest("#more-events");
      if (more) {
        self.loadMore(more);
        return;
      }
      var toReplay = event.target.closest("button.to-replay");
      if (toReplay) self.scrubTo(parseInt(toReplay.dataset.seq, 10), true);
    });
    var filter = byId("type-filter");
    filter.addEventListener("change", function () {
      self.replaceRows(filter.value);
    });
  };

  TracePage.prototype.openRef = function (ref, row) {
    if (!ref || !EVENT_REF.test(ref)) return;
    var self = this;
    var rows = byId("events").querySelectorAll("tr.event-row.selected");
    for (var i = 0; i < rows.length; i++) rows[i].classList.remove("selected");
    if (!row) row = byId("events").querySelector('tr.event-row[data-event-id="' + ref + '"]');
    if (row) row.classList.add("selected");
    if (this.data && this.timeline) {
      var k = this.indexOfRef(ref);
      if (k >= 0 && k !== this.selected) {
        this.selected = k;
        this.timeline.draw();
      }
    }
    loadFragment(this.detail, this.base + "/events/" + encodeURIComponent(ref)).then(function (done) {
      if (!done) return;
      if (window.history && history.replaceState) {
        history.replaceState(null, "", self.base + "?event=" + encodeURIComponent(ref) + "#detail");
      }
      self.revealDetail();
    });
  };

  // The detail may sit below the whole table (one column on narrow screens): take the reader
  // there, and move focus to its heading so keyboard and screen reader users land on it too.
  TracePage.prototype.revealDetail = function () {
    var article = this.detail.querySelector(".event-detail");
    var heading = byId("detail-h");
    if (article) {
      var seq = article.dataset.seq;
      var title = article.querySelector(".detail-title");
      announce(
        (seq ? "Seq " + seq + ", " : "") + (article.dataset.type || "event") + ": " + (title ? title.textContent : "")
      );
    }
    if (heading) heading.focus({ preventScroll: true });
    var top = this.detail.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight / 2) {
      this.detail.scrollIntoView({ block: "start", behavior: smoothScroll() ? "smooth" : "auto" });
    }
  };

  TracePage.prototype.refAt = function (k) {
    var id = this.data.event_ids[k];
    return id ? id : "i" + this.data.points[k][5];
  };

  TracePage.prototype.indexOfRef = function (ref) {
    var data = this.data;
    if (ref.charAt(0) === "i") {
      var idx = parseInt(ref.slice(1), 10);
      for (var j = 0; j < data.points.length; j++) if (data.points[j][5] === idx) return j;
      return -1;
    }
    return data.event_ids.indexOf(ref);
  };

  // Rows arrive as a server fragment: <tr> rows and, when there are more, a fresh button.
  function parseRows(html) {
    var template = document.createElement("template");
    template.innerHTML = html; // server-rendered and escaped
    return {
      rows: template.content.querySelectorAll("tr.event-row"),
      more: template.content.querySelector("#more-events"),
    };
  }

  // Both the "More events" button and the type filter write to the table's body; each load
  // takes the body's ticket, and an answer for an older ticket is dropped, so a slow page of
  // the old type never lands in the table once the filter has changed.
  TracePage.prototype.loadMore = function (button) {
    var self = this;
    if (button.disabled) return;
    var ticket = this.rowsTicket;
    button.disabled = true;
    button.textContent = "Loading…";
    getText(button.dataset.src).then(
      function (html) {
        if (self.rowsTicket !== ticket || !button.isConnected) return;
        var parsed = parseRows(html);
        var body = byId("events").tBodies[0];
        var count = parsed.rows.length;
        for (var i = 0; i < count; i++) body.appendChild(parsed.rows[i]);
        self.placeMore(parsed.more, button);
        announce(count + " more event" + (count === 1 ? "" : "s") + " in the table");
      },
      function (error) {
        if (self.rowsTicket !== ticket || !button.isConnected) return;
        button.disabled = false;
        button.textContent = "More events (" + error.message + ")";
      }
    );
  };

  TracePage.prototype.placeMore = function (fresh, old) {
    old = old || byId("more-events");
    if (fresh && old) {
      old.replaceWith(fresh);
    } else if (fresh) {
      byId("events").closest(".table-box").after(fresh);
    } else if (old) {
      old.remove();
    }
  };

  TracePage.prototype.replaceRows = function (type) {
    var self = this;
    var filter = byId("type-filter");
    var url = filter.dataset.src + (type ? "?type=" + encodeURIComponent(type) : "");
    var ticket = ++this.rowsTicket;
    var body = byId("events").tBodies[0];
    var more = byId("more-events");
    if (more) more.disabled = true; // its page belongs to the rows being replaced
    body.setAttribute("aria-busy", "true");
    getText(url).then(
      function (html) {
        if (self.rowsTicket !== ticket) return;
        var parsed = parseRows(html);
        body.replaceChildren.apply(body, Array.prototype.slice.call(parsed.rows));
        body.removeAttribute("aria-busy");
        self.rowsType = type;
        self.placeMore(parsed.more, null);
        var shown = parsed.rows.length + (type ? " " + type : "") + " event" + (parsed.rows.length === 1 ? "" : "s");
        announce("Showing " + shown + (parsed.more ? ", more to load" : ""));
      },
      function (error) {
        if (self.rowsTicket !== ticket) return;
        // the table still holds the rows it had: say so, and put the filter back to match them
        body.removeAttribute("aria-busy");
        filter.value = self.rowsType;
        var still = byId("more-events");
        if (still) still.disabled = false;
        announce("The events did not load: " + error.message);
        showProblem(self.detail, error);
      }
    );
  };

  /* stats, churn, plots */

  var STAT_LABELS = {
    events: "Events",
    duration_s: "Duration",
    active_s: "Active time",
    edits: "Edits",
    files_touched: "Files touched",
    lines_added: "Lines added",
    lines_removed: "Lines removed",
    commands: "Commands",
    test_runs: "Test runs",
    green_runs: "Green runs",
    time_to_first_green_s: "Time to first green",
    red_green_cycles: "Red→green cycles",
    edits_between_tests: "Edits between tests",
    commits: "Commits",
    rewrites: "Rewrites",
    agent_events: "Agent events",
    agent_share: "Agent share of events",
    agent_lines: "Lines by agents",
    human_lines: "Lines by humans",
    unknown_lines: "Lines by unknown authors",
    agent_line_share: "Agent share of lines",
  };

  function statValue(name, value) {
    if (value === null || value === undefined) return "—";
    if (/_s$/.test(name) && typeof value === "number") return formatSeconds(value);
    if (/share$/.test(name) && typeof value === "number") return Math.round(value * 100) + "%";
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(1);
    return String(value);
  }

  TracePage.prototype.renderStats = function (stats) {
    var dl = document.createElement("dl");
    function add(name, value) {
      var dt = document.createElement("dt");
      dt.textContent = STAT_LABELS[name] || name.replace(/_/g, " ");
      var dd = document.createElement("dd");
      dd.textContent = statValue(name, value);
      dl.append(dt, dd);
    }
    function addScalar(name, value) {
      // figures only: a per-commit list belongs to the commits' own details
      if (value === null || typeof value !== "object") add(name, value);
    }
    Object.keys(stats).forEach(function (name) {
      var value = stats[name];
      if (name === "lines" && value && typeof value === "object" && !Array.isArray(value)) {
        Object.keys(value).forEach(function (inner) {
          addScalar(inner, value[inner]);
        });
      } else {
        addScalar(name, value);
      }
    });
    var section = byId("stats");
    var old = section.querySelector("dl");
    if (old) old.replaceWith(dl);
    else section.appendChild(dl);
  };

  TracePage.prototype.renderChurn = function (churn) {
    var body = byId("churn").tBodies[0];
    var rows = [];
    var most = 1;
    churn.forEach(function (c) {
      most = Math.max(most, (c.added || 0) + (c.removed || 0));
    });
    churn.forEach(function (c) {
      var tr = document.createElement("tr");
      var cells = [c.file, c.added, c.removed, c.edits];
      cells.forEach(function (value, i) {
        var td = document.createElement("td");
        if (i === 0) {
          var code = document.createElement("code");
          code.textContent = String(value);
          td.appendChild(code);
        } else {
          td.className = "num";
          td.textContent = String(value);
        }
        tr.appendChild(td);
      });
      var barCell = document.createElement("td");
      barCell.className = "bar-cell";
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = (((c.added || 0) + (c.removed || 0)) / most) * 100 + "%"; // CSSOM, allowed by the CSP
      bar.title = (c.added || 0) + " added, " + (c.removed || 0) + " removed";
      barCell.appendChild(bar);
      tr.appendChild(barCell);
      rows.push(tr);
    });
    if (!rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 5;
      td.textContent = "No edits recorded.";
      tr.appendChild(td);
      rows.push(tr);
    }
    body.replaceChildren.apply(body, rows);
  };

  TracePage.prototype.renderPlots = function (data) {
    var self = this;
    this.plots = [];
    if (typeof window.uPlot !== "function") {
      ["plot-events", "plot-tests"].forEach(function (id) {
        showProblem(byId(id), new Error("The plotting library did not load."));
      });
      return;
    }
    var eventsBox = byId("plot-events");
    var perMinute = data.per_minute || { t: [], types: {} };
    var typeNames = Object.keys(perMinute.types || {});
    if (perMinute.t.length && typeNames.length) {
      var series = [{ label: "time" }];
      var columns = [perMinute.t];
      typeNames.forEach(function (name) {
        var lane = (data.lanes.type || []).indexOf(name);
        series.push({
          label: name,
          stroke: LANE_COLOURS[lane >= 0 ? lane : 7],
          width: 1.5,
          points: { show: false },
        });
        columns.push(perMinute.types[name]);
      });
      this.plots.push(makePlot(eventsBox, series, columns, "events per " + formatBucket(data.bucket_s)));
    } else {
      emptyNote(eventsBox, "No events to plot.");
    }

    var testsBox = byId("plot-tests");
    var tests = data.tests || { t: [] };
    if (tests.t.length) {
      var order = tests.t.map(function (_, i) {
        return i;
      });
      order.sort(function (a, b) {
        return tests.t[a] - tests.t[b];
      });
      var pick = function (list) {
        return order.map(function (i) {
          return list[i];
        });
      };
      var testSeries = [
        { label: "time" },
        { label: "passed", stroke: PASS, width: 2, points: { show: true, size: 6, fill: PASS } },
        { label: "failed", stroke: FAIL, width: 2, points: { show: true, size: 6, fill: FAIL } },
      ];
      this.plots.push(makePlot(testsBox, testSeries, [pick(tests.t), pick(tests.passed), pick(tests.failed)], "tests"));
    } else {
      emptyNote(testsBox, "No test runs recorded.");
    }

    var resize = debounce(function () {
      self.plots.forEach(function (entry) {
        entry.plot.setSize({ width: plotWidth(entry.box), height: entry.plot.height });
      });
    }, 100);
    window.addEventListener("resize", resize);
  };

  function emptyNote(box, text) {
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    box.replaceChildren(p);
  }

  function plotWidth(box) {
    return Math.max(240, box.clientWidth || box.parentNode.clientWidth || 480);
  }

  function formatBucket(seconds) {
    var names = { 60: "minute", 3600: "hour", 86400: "day" };
    if (names[seconds]) return names[seconds];
    if (seconds % 86400 === 0) return seconds / 86400 + " days";
    if (seconds % 3600 === 0) return seconds / 3600 + " hours";
    if (seconds % 60 === 0) return seconds / 60 + " minutes";
    return seconds + " seconds";
  }

  // A single moment (one test run) still gets a readable span of time around it.
  function timeRange(_u, min, max) {
    return min === max ? [min - 300, max + 300] : [min, max];
  }

  // Counts are whole numbers: no ticks at 0.5.
  var COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

  function makePlot(box, series, columns, yLabel) {
    box.replaceChildren();
    var plot = new window.uPlot(
      {
        width: plotWidth(box),
        height: 220,
        series: series,
        scales: { x: { time: true, range: timeRange } },
        axes: [{}, { label: yLabel, size: 50, incrs: COUNT_STEPS }],
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      columns,
      box
    );
    return { plot: plot, box: box };
  }

  /* the replay scrubber */

  TracePage.prototype.wireReplay = function () {
    var self = this;
    var range = byId("scrub");
    var number = byId("scrub-seq");
    var reload = debounce(function () {
      self.loadFiles();
    }, 150);
    function fromRange() {
      self.scrubbed = true;
      number.value = range.value;
      reload();
    }
    // Typed seqs are held to the scrubber's bounds, so no request asks for a seq the trace
    // lacks. While typing, a value under the minimum may still grow into a good one (the "1"
    // of "120"), so it is written back only when the typing is done (`change`); a value over
    // the maximum can only grow, so it is written back at once.
    function fromNumber(event) {
      var value = parseInt(number.value, 10);
      if (isNaN(value)) return;
      self.scrubbed = true;
      var clamped = clampSeq(value, number);
      if (clamped !== value && (event.type === "change" || value > clamped)) number.value = String(clamped);
      range.value = String(clamped);
      reload();
    }
    range.addEventListener("input", fromRange);
    range.addEventListener("change", fromRange);
    number.addEventListener("input", fromNumber);
    number.addEventListener("change", fromNumber);
    byId("files").addEventListener("click", function (event) {
      var button = event.target.closest("button.file");
      if (!button) return;
      self.selectedPath = button.dataset.path;
      markPressed(button);
      self.loadFile();
    });
  };

  // `value` held within the input's min and max (when it has them).
  function clampSeq(value, input) {
    var min = parseInt(input.min, 10);
    var max = parseInt(input.max, 10);
    if (!isNaN(max) && value > max) value = max;
    if (!isNaN(min) && value < min) value = min;
    return value;
  }

  function markPressed(button) {
    var all = byId("files").querySelectorAll("button.file");
    for (var i = 0; i < all.length; i++) all[i].setAttribute("aria-pressed", all[i] === button ? "true" : "false");
  }

  TracePage.prototype.setupScrubber = function (seqs) {
    var range = byId("scrub");
    var number = byId("scrub-seq");
    if (!seqs) {
      range.disabled = true;
      number.disabled = true;
      emptyNote(byId("files"), "This trace has no numbered events to replay.");
      return;
    }
    [range, number].forEach(function (input) {
      input.min = String(seqs.min);
      input.max = String(seqs.max);
    });
    // The page's first guess at the last seq is the event count, which gaps in the seqs make
    // wrong: the overview knows the real bounds. A seq the reader already chose is kept.
    var current = parseInt(number.value, 10);
    if (!this.scrubbed || isNaN(current)) current = seqs.max;
    current = clampSeq(current, number);
    range.value = String(current);
    number.value = String(current);
    this.loadFiles();
  };

  TracePage.prototype.scrubSeq = function () {
    var number = byId("scrub-seq");
    var value = parseInt(number.value, 10);
    return isNaN(value) ? null : clampSeq(value, number);
  };

  TracePage.prototype.scrubTo = function (seq, reveal) {
    if (isNaN(seq)) return;
    this.scrubbed = true;
    seq = clampSeq(seq, byId("scrub-seq"));
    byId("scrub").value = String(seq);
    byId("scrub-seq").value = String(seq);
    this.loadFiles();
    if (reveal) byId("replay").scrollIntoView({ block: "start" });
  };

  TracePage.prototype.loadFiles = function () {
    var self = this;
    var seq = this.scrubSeq();
    if (seq === null) return;
    loadFragment(byId("files"), this.base + "/files?at=" + seq).then(function (done) {
      if (!done) return;
      var count = byId("files").querySelectorAll("button.file").length;
      announce(count + " file" + (count === 1 ? "" : "s") + " at seq " + seq);
      if (self.selectedPath === null) return;
      var buttons = byId("files").querySelectorAll("button.file");
      for (var i = 0; i < buttons.length; i++) {
        if (buttons[i].dataset.path === self.selectedPath) markPressed(buttons[i]);
      }
    });
    if (this.selectedPath !== null) this.loadFile();
  };

  TracePage.prototype.loadFile = function () {
    var seq = this.scrubSeq();
    if (seq === null || this.selectedPath === null) return;
    var path = this.selectedPath;
    loadFragment(byId("file-view"), this.base + "/file?at=" + seq + "&path=" + encodeURIComponent(path)).then(
      function (done) {
        if (!done) return;
        var shown = byId("file-view").querySelector("pre.file-content");
        announce(path + " at seq " + seq + (shown ? "" : ": its content cannot be shown"));
      }
    );
  };

  /* ---------------------------------------------------------------- the timeline canvas */

  var GUTTER = 110; // room for the lane labels, in CSS pixels
  var AXIS = 22; // the time axis under the lanes
  var LANE_H = 22;
  var PAD_R = 10;

  function Timeline(canvas, data, page) {
    this.canvas = canvas;
    this.data = data;
    this.page = page;
    this.width = 0;
    var self = this;
    canvas.addEventListener("click", function (event) {
      self.onClick(event);
    });
    canvas.addEventListener("keydown", function (event) {
      self.onKey(event);
    });
    var radios = document.querySelectorAll('input[name="lanes-by"]');
    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener("change", function (event) {
        if (event.target.checked) {
          page.laneBy = event.target.value === "actor" ? "actor" : "type";
          self.draw();
        }
      });
    }
    var redraw = debounce(function () {
      self.draw();
    }, 50);
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.canvas.clientWidth !== self.width) redraw();
      }).observe(canvas.parentNode);
    } else {
      window.addEventListener("resize", redraw);
    }
    if (window.matchMedia) {
      // devicePixelRatio changes with zoom and when the window moves between screens
      var watchRatio = function () {
        window.matchMedia("(resolution: " + window.devicePixelRatio + "dppx)").addEventListener(
          "change",
          function () {
            redraw();
            watchRatio();
          },
          { once: true }
        );
      };
      watchRatio();
    }
  }

  Timeline.prototype.labels = function () {
    var lanes = this.data.lanes || {};
    return (this.page.laneBy === "actor" ? lanes.actor : lanes.type) || [];
  };

  Timeline.prototype.laneColumn = function () {
    return this.page.laneBy === "actor" ? 2 : 1;
  };

  Timeline.prototype.xOf = function (t) {
    var data = this.data;
    var span = Math.max(1, data.t1 - data.t0);
    var plotW = Math.max(1, this.width - GUTTER - PAD_R);
    return GUTTER + ((t - data.t0) / span) * plotW;
  };

  Timeline.prototype.draw = function () {
    var canvas = this.canvas;
    var data = this.data;
    var labels = this.labels();
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || canvas.parentNode.clientWidth || 600;
    var height = Math.max(1, labels.length) * LANE_H + AXIS;
    this.width = width;
    canvas.style.height = height + "px"; // CSSOM, allowed by the CSP
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    // lanes and their labels (canvas text is pixels, not markup)
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (var lane = 0; lane < labels.length; lane++) {
      var y = lane * LANE_H;
      if (lane % 2 === 1) {
        ctx.fillStyle = "#f6f8fa";
        ctx.fillRect(0, y, width, LANE_H);
      }
      ctx.fillStyle = "#1f2328";
      ctx.fillText(fitText(ctx, String(labels[lane]), GUTTER - 8), 4, y + LANE_H / 2);
    }

    this.drawAxis(ctx, labels.length * LANE_H, width);

    var points = data.points || [];
    if (!points.length || data.t0 === null) return;
    var column = this.laneColumn();
    var markW = 2;
    var markH = LANE_H - 8;
    // one pass per colour: fillStyle changes are what cost, fillRect is cheap
    var groups = {};
    for (var k = 0; k < points.length; k++) {
      var p = points[k];
      if (p[0] === null) continue;
      var colour = p[4] === 1 ? PASS : p[4] === 2 ? FAIL : LANE_COLOURS[p[1]] || LANE_COLOURS[7];
      (groups[colour] || (groups[colour] = [])).push(k);
    }
    // failures last, so a red mark is never hidden under the green ones around it
    var order = Object.keys(groups).sort(function (a, b) {
      return (a === FAIL) - (b === FAIL) || (a === PASS) - (b === PASS);
    });
    var span = Math.max(1, data.t1 - data.t0);
    var plotW = Math.max(1, width - GUTTER - PAD_R);
    var scale = plotW / span;
    for (var g = 0; g < order.length; g++) {
      ctx.fillStyle = order[g];
      var list = groups[order[g]];
      for (var j = 0; j < list.length; j++) {
        var q = points[list[j]];
        ctx.fillRect(GUTTER + (q[0] - data.t0) * scale - markW / 2, q[column] * LANE_H + 4, markW, markH);
      }
    }

    if (this.page.selected >= 0 && this.page.selected < points.length) {
      var s = points[this.page.selected];
      if (s[0] !== null) {
        var sx = this.xOf(s[0]);
        var sy = s[column] * LANE_H;
        ctx.strokeStyle = "#1f2328";
        ctx.lineWidth = 2;
        ctx.strokeRect(sx - 4, sy + 1, 8, LANE_H - 2);
        ctx.strokeStyle = "#0969da";
        ctx.beginPath();
        ctx.moveTo(sx, 0);
        ctx.lineTo(sx, labels.length * LANE_H);
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    }
  };

  function fitText(ctx, text, maxWidth) {
    if (ctx.measureText(text).width <= maxWidth) return text;
    while (text.length > 1 && ctx.measureText(text + "…").width > maxWidth) text = text.slice(0, -1);
    return text + "…";
  }

  var DAY_MS = 86400000;

  // Times alone repeat and mislead once a trace spans days, or even just passes midnight (UTC):
  // then every tick carries its date ("YYYY-MM-DD HH:MM").
  function tickNeedsDate(t0, t1) {
    return t1 - t0 >= DAY_MS || Math.floor(t0 / DAY_MS) !== Math.floor(t1 / DAY_MS);
  }

  Timeline.prototype.drawAxis = function (ctx, top, width) {
    var data = this.data;
    ctx.strokeStyle = "#d1d9e0";
    ctx.beginPath();
    ctx.moveTo(GUTTER, top + 0.5);
    ctx.lineTo(width - PAD_R, top + 0.5);
    ctx.stroke();
    if (data.t0 === null || data.t0 === undefined) return;
    ctx.fillStyle = "#59636e";
    ctx.textBaseline = "top";
    var ticks = Math.max(2, Math.min(6, Math.floor((width - GUTTER) / 160)));
    var withDate = tickNeedsDate(data.t0, data.t1);
    for (var i = 0; i <= ticks; i++) {
      var t = data.t0 + ((data.t1 - data.t0) * i) / ticks;
      var x = this.xOf(t);
      var label = withDate ? formatTime(t).slice(0, 16) : formatTime(t).slice(11);
      ctx.textAlign = i === 0 ? "left" : i === ticks ? "right" : "center";
      ctx.fillText(label, x, top + 5);
    }
    ctx.textAlign = "left";
  };

  Timeline.prototype.onClick = function (event) {
    var data = this.data;
    var points = data.points || [];
    if (!points.length) return;
    var rect = this.canvas.getBoundingClientRect();
    var x = event.clientX - rect.left;
    var y = event.clientY - rect.top;
    var lane = Math.floor(y / LANE_H);
    var column = this.laneColumn();
    var inLane = lane >= 0 && lane < this.labels().length;
    var best = -1;
    var bestD = Infinity;
    for (var pass = 0; pass < 2 && best < 0; pass++) {
      for (var k = 0; k < points.length; k++) {
        var p = points[k];
        if (p[0] === null) continue;
        if (pass === 0 && inLane && p[column] !== lane) continue;
        var d = Math.abs(this.xOf(p[0]) - x);
        if (d < bestD) {
          bestD = d;
          best = k;
        }
      }
      if (!inLane) break;
    }
    if (best < 0) return;
    this.canvas.focus();
    this.select(best, true);
  };

  Timeline.prototype.onKey = function (event) {
    var n = (this.data.points || []).length;
    if (!n) return;
    var k = this.page.selected;
    switch (event.key) {
      case "ArrowRight":
        k = k < 0 ? 0 : Math.min(n - 1, k + 1);
        break;
      case "ArrowLeft":
        k = k < 0 ? 0 : Math.max(0, k - 1);
        break;
      case "Home":
        k = 0;
        break;
      case "End":
        k = n - 1;
        break;
      case "Enter":
        if (k >= 0) this.page.openRef(this.page.refAt(k));
        event.preventDefault();
        return;
      default:
        return;
    }
    event.preventDefault();
    this.select(k, false);
  };

  Timeline.prototype.select = function (k, open) {
    var page = this.page;
    page.selected = k;
    this.draw();
    var p = this.data.points[k];
    var lane = this.data.lanes.type[p[1]] || "";
    var who = (this.data.lanes.actor || [])[p[2]] || "";
    var text = "Event " + (k + 1) + " of " + this.data.points.length + ": " + lane + " by " + who;
    if (p[3] !== null) text += ", seq " + p[3];
    text += ", " + formatTime(p[0]) + (p[4] === 2 ? ", failed" : p[4] === 1 ? ", passed" : "");
    text += open ? "" : ". Enter opens it.";
    byId("lanes-focus").textContent = text;
    if (open) page.openRef(page.refAt(k));
  };

  /* ---------------------------------------------------------------- start */

  function start() {
    var root = document.querySelector(".trace[data-trace-id]");
    if (document.body.dataset.page === "trace" && root && byId("overview")) {
      new TracePage(root).start();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
