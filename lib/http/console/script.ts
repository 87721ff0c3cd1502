// The console's browser code: plain DOM, no framework, no build step, and no request to any
// host but the one that served it (the page's Content-Security-Policy enforces that). It only
// calls the public HTTP API, with the same credentials a client would send, so whatever the
// API refuses the console cannot do either. Kept free of template literals so it can live in
// this String.raw.
export const CONSOLE_JS = String.raw`
(function () {
  'use strict';
  var main = document.getElementById('main');
  var statusEl = document.getElementById('status');
  var tokenInput = document.getElementById('token');
  var timers = [];
  var aborts = [];
  // The page on screen: its requests share one AbortController (aborted when the user moves
  // on, so a slow answer never lands on the next page) and its timers stop with it.
  var pageCtl = new AbortController();
  var pageNo = 0;
  var rates = {};
  /** Topics per page of the topic list (each is described at every refresh). */
  var TOPICS_PAGE = 200;

  tokenInput.value = sessionStorage.getItem('samsa.token') || '';
  tokenInput.addEventListener('change', function () {
    sessionStorage.setItem('samsa.token', tokenInput.value.trim());
    render();
  });

  function setStatus(msg, isError) {
    statusEl.textContent = msg || '';
    statusEl.className = isError ? 'error' : '';
  }

  function api(method, path, body, signal) {
    var headers = { accept: 'application/json' };
    var t = sessionStorage.getItem('samsa.token');
    if (t) headers.authorization = 'Bearer ' + t;
    var init = { method: method, headers: headers, signal: signal || pageCtl.signal };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        if (!res.ok) {
          var err = new Error((data && data.error_code ? data.error_code + ': ' : 'HTTP ' + res.status + ': ') + ((data && data.message) || res.statusText));
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return el;
  }
  function field(label, input) { return h('label', null, [label, input]); }
  function enc(s) { return encodeURIComponent(s); }
  function fmtBytes(n) {
    if (n === undefined || n === null) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }
  function fmtMs(ms) {
    if (!ms) return '0 s';
    if (ms < 1000) return ms + ' ms';
    var s = ms / 1000;
    if (s < 120) return s.toFixed(1) + ' s';
    if (s < 7200) return (s / 60).toFixed(1) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }
  // Kafka timestamps are int64 ms; a Date spans only ±8.64e15 ms. Beyond that the number itself
  // is shown: toISOString throws, which emptied the whole page of records.
  function fmtTime(ts) {
    var d = new Date(ts);
    return isNaN(d.getTime()) ? String(ts) + ' ms' : d.toISOString();
  }
  // One call of fn at a time: a call while one is in flight returns that one and runs fn once
  // more after it (the caller changed something and wants to see it), never beside it.
  function single(fn) {
    var running = null, again = false;
    return function run() {
      if (running) { again = true; return running; }
      running = Promise.resolve().then(fn);
      var done = function () {
        running = null;
        if (again) { again = false; run().catch(fail); }
      };
      running.then(done, done);
      return running;
    };
  }
  // Periodic refresh of the page on screen: the next run starts ms after the previous one has
  // settled, so a slow server never has two of them in flight (setInterval stacked them).
  function every(ms, fn) {
    var mine = pageNo;
    (function tick() {
      if (mine !== pageNo) return;
      Promise.resolve().then(fn).catch(fail).then(function () {
        if (mine === pageNo) timers.push(setTimeout(tick, ms));
      });
    })();
  }
  function fail(err) { if (err && err.name !== 'AbortError') setStatus(err.message || String(err), true); }

  // A line chart of the last points, drawn as SVG: enough for throughput and lag.
  function chart(title) {
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('viewBox', '0 0 600 140');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', title);
    var line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    var label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    label.setAttribute('x', '6');
    label.setAttribute('y', '14');
    svg.appendChild(line);
    svg.appendChild(label);
    var points = [];
    return {
      el: svg,
      push: function (v) {
        points.push(v);
        if (points.length > 60) points.shift();
        var max = Math.max.apply(null, points.concat([1]));
        line.setAttribute('points', points.map(function (p, i) {
          return (i * 600 / 59).toFixed(1) + ',' + (134 - (p / max) * 120).toFixed(1);
        }).join(' '));
        label.textContent = title + ': ' + (Math.round(v * 10) / 10) + ' (max ' + (Math.round(max * 10) / 10) + ')';
      },
    };
  }

  // --- decoding record bytes (the browser asks for base64 and decodes as the user chooses) ---
  function b64bytes(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  // A value is shown up to SHOW_BYTES: a record may be as large as max.message.bytes, and a
  // followed partition keeps 500 rows, so whole values could grow the page by gigabytes.
  var SHOW_BYTES = 16384;
  function decodeAs(b64, how) {
    if (b64 === null || b64 === undefined) return 'null';
    var all = b64bytes(b64);
    var cut = all.length > SHOW_BYTES;
    var more = cut ? '\n… (' + all.length + ' bytes; the first ' + SHOW_BYTES + ' shown)' : '';
    return showBytes(cut ? all.subarray(0, SHOW_BYTES) : all, how, cut) + more;
  }
  function showBytes(bytes, how, cut) {
    if (how === 'hex') return Array.prototype.map.call(bytes, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join(' ');
    var text;
    // A cut may split the last character: streaming leaves its bytes out instead of failing.
    try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: cut }); } catch (e) { return showBytes(bytes, 'hex', cut) + '  (not UTF-8)'; }
    if (how === 'json' && !cut) {
      try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
    }
    return text;
  }

  // --- pages ---------------------------------------------------------------------------------
  function topicsPage() {
    var tbody = h('tbody');
    var table = h('table', { 'aria-label': 'Topics' }, [h('thead', null, [h('tr', null, [
      h('th', { text: 'Topic' }), h('th', { class: 'num', text: 'Partitions' }), h('th', { class: 'num', text: 'Records' }),
      h('th', { class: 'num', text: 'Size' }), h('th', { class: 'num', text: 'Messages/s' })])]), tbody]);
    var name = h('input', { id: 'new-topic-name', required: true, pattern: '[a-zA-Z0-9._\\-]{1,249}' });
    var parts = h('input', { id: 'new-topic-partitions', type: 'number', min: 1, value: 3 });
    var retention = h('input', { id: 'new-topic-retention', type: 'number', placeholder: '604800000' });
    var form = h('form', { class: 'inline', onsubmit: function (e) {
      e.preventDefault();
      var body = { name: name.value.trim(), partitions: Number(parts.value) };
      if (retention.value) body.config = { 'retention.ms': Number(retention.value) };
      api('POST', '/v1/topics', body).then(function () { setStatus('Created topic ' + body.name); location.hash = '#/topics/' + enc(body.name); }, fail);
    } }, [field('Name', name), field('Partitions', parts), field('retention.ms (optional)', retention), h('button', { type: 'submit', text: 'Create topic' })]);
    // Each topic shown is described (stats, rate) at every refresh: the list shows a page of
    // TOPICS_PAGE at a time, and the buttons move through the rest (GET /v1/topics has them all).
    var first = 0;
    var pageInfo = h('span', { class: 'muted', 'aria-live': 'polite' });
    var prevBtn = h('button', { type: 'button', class: 'secondary', text: 'Previous ' + TOPICS_PAGE, onclick: function () { first = Math.max(0, first - TOPICS_PAGE); refresh().catch(fail); } });
    var nextBtn = h('button', { type: 'button', class: 'secondary', text: 'Next ' + TOPICS_PAGE, onclick: function () { first += TOPICS_PAGE; refresh().catch(fail); } });
    var pager = h('div', { class: 'pager', hidden: true }, [prevBtn, nextBtn, pageInfo]);
    main.replaceChildren(h('h2', { text: 'Topics' }), h('section', { class: 'card' }, [table, pager]), h('section', { class: 'card' }, [h('h3', { text: 'Create a topic' }), form]));
    var refresh = single(function () {
      return api('GET', '/v1/topics').then(function (list) {
        // Topics deleted since the last page was chosen: stay on the last page there is.
        if (first >= list.topics.length) first = Math.max(0, Math.floor((list.topics.length - 1) / TOPICS_PAGE) * TOPICS_PAGE);
        var shown = list.topics.slice(first, first + TOPICS_PAGE);
        return Promise.all(shown.map(function (t) {
          return api('GET', '/v1/topics/' + enc(t.name) + '?stats=true').catch(function () { return null; });
        })).then(function (descs) {
          var now = Date.now();
          prevBtn.disabled = first === 0;
          nextBtn.disabled = first + TOPICS_PAGE >= list.topics.length;
          pager.hidden = list.topics.length <= TOPICS_PAGE;
          pageInfo.textContent = 'Topics ' + (first + 1) + '–' + (first + shown.length) + ' of ' + list.topics.length;
          tbody.replaceChildren.apply(tbody, shown.map(function (t, i) {
            var d = descs[i];
            var records = d ? d.partitions.reduce(function (a, p) { return a + p.high_watermark - p.log_start_offset; }, 0) : undefined;
            var hw = d ? d.partitions.reduce(function (a, p) { return a + p.high_watermark; }, 0) : undefined;
            var size = d && d.partitions.every(function (p) { return typeof p.size_bytes === 'number'; })
              ? d.partitions.reduce(function (a, p) { return a + p.size_bytes; }, 0) : undefined;
            // Per incarnation: a topic deleted and created again starts from zero, not a negative rate.
            var prev = rates[t.name], rate = '–';
            if (prev && d && prev.id === d.topic_id && now > prev.at) rate = ((hw - prev.hw) * 1000 / (now - prev.at)).toFixed(1);
            if (hw !== undefined) rates[t.name] = { id: d.topic_id, hw: hw, at: now };
            return h('tr', null, [h('td', null, [h('a', { href: '#/topics/' + enc(t.name), text: t.name })]),
              h('td', { class: 'num', text: t.partitions }), h('td', { class: 'num', text: records === undefined ? '–' : records }),
              h('td', { class: 'num', text: fmtBytes(size) }), h('td', { class: 'num', text: rate })]);
          }));
          if (list.topics.length === 0) tbody.replaceChildren(h('tr', null, [h('td', { colspan: 5, class: 'muted', text: 'No topics yet.' })]));
        });
      });
    });
    every(5000, refresh);
  }

  function topicPage(topic) {
    var partsBody = h('tbody');
    var configBody = h('tbody');
    var throughput = chart('Messages/s');
    var partitionSelect = h('select', { id: 'browse-partition' });
    var prodPartition = h('select', { id: 'produce-partition' }, [h('option', { value: '', text: 'by key (Kafka partitioner)' })]);
    var lastHw;
    var known = 0;
    var incarnation;
    var header = h('h2', null, ['Topic ', h('span', { text: topic })]);

    var refresh = single(function () {
      return api('GET', '/v1/topics/' + enc(topic) + '?stats=true').then(function (d) {
        // Deleted and created again since this page opened: its offsets, rates and messages
        // belong to the old topic. Start the page over on the new one.
        if (incarnation !== undefined && d.topic_id !== incarnation) {
          render();
          setStatus('Topic ' + topic + ' was deleted and created again; showing the new topic.');
          return;
        }
        incarnation = d.topic_id;
        partsBody.replaceChildren.apply(partsBody, d.partitions.map(function (p) {
          return h('tr', null, [h('td', { class: 'num', text: p.partition }), h('td', { class: 'num', text: p.log_start_offset }),
            h('td', { class: 'num', text: p.high_watermark }), h('td', { class: 'num', text: p.high_watermark - p.log_start_offset }),
            h('td', { class: 'num', text: p.segments === undefined ? '–' : p.segments }), h('td', { class: 'num', text: fmtBytes(p.size_bytes) })]);
        }));
        configBody.replaceChildren.apply(configBody, Object.keys(d.config).sort().map(function (k) {
          return h('tr', null, [h('td', { text: k }), h('td', { text: String(d.config[k]) })]);
        }));
        if (known !== d.partitions.length) {
          known = d.partitions.length;
          partitionSelect.replaceChildren.apply(partitionSelect, d.partitions.map(function (p) { return h('option', { value: p.partition, text: 'partition ' + p.partition }); }));
          prodPartition.replaceChildren.apply(prodPartition, [h('option', { value: '', text: 'by key (Kafka partitioner)' })].concat(
            d.partitions.map(function (p) { return h('option', { value: p.partition, text: 'partition ' + p.partition }); })));
        }
        var hw = d.partitions.reduce(function (a, p) { return a + p.high_watermark; }, 0);
        if (lastHw !== undefined) throughput.push((hw - lastHw.hw) * 1000 / Math.max(1, Date.now() - lastHw.at));
        lastHw = { hw: hw, at: Date.now() };
      });
    });

    // Alter: config, partitions, delete (typing the name confirms).
    var cfgKey = h('input', { id: 'config-key', placeholder: 'retention.ms' });
    var cfgVal = h('input', { id: 'config-value', placeholder: '86400000 (empty: default)' });
    var alterForm = h('form', { class: 'inline', onsubmit: function (e) {
      e.preventDefault();
      var cfg = {};
      var v = cfgVal.value.trim();
      cfg[cfgKey.value.trim()] = v === '' ? null : (isNaN(Number(v)) ? v : Number(v));
      api('PATCH', '/v1/topics/' + enc(topic), { config: cfg }).then(function () { setStatus('Config updated'); refresh().catch(fail); }, fail);
    } }, [field('Config key', cfgKey), field('Config value', cfgVal), h('button', { type: 'submit', text: 'Set config' })]);
    var newParts = h('input', { id: 'partitions-count', type: 'number', min: 1 });
    var partsForm = h('form', { class: 'inline', onsubmit: function (e) {
      e.preventDefault();
      api('PATCH', '/v1/topics/' + enc(topic), { partitions: Number(newParts.value) }).then(function () { setStatus('Partitions added'); known = 0; refresh().catch(fail); }, fail);
    } }, [field('New partition count', newParts), h('button', { type: 'submit', text: 'Add partitions' })]);
    var confirmName = h('input', { id: 'delete-confirm', placeholder: topic });
    var delForm = h('form', { class: 'inline', onsubmit: function (e) {
      e.preventDefault();
      if (confirmName.value !== topic) { setStatus('Type the topic name to confirm deletion', true); return; }
      // Only the incarnation this page shows: the name may hold another topic since its last
      // refresh (a deleted name is free at once), and that one is not the user's to delete here.
      var only = incarnation === undefined ? '' : '?topic_id=' + enc(incarnation);
      api('DELETE', '/v1/topics/' + enc(topic) + only).then(function () { setStatus('Deleted topic ' + topic); location.hash = '#/topics'; }, function (err) {
        if (err && err.status === 404) setStatus('Topic ' + topic + ' as shown here is gone (deleted, perhaps created again since); nothing was deleted.', true);
        else fail(err);
      });
    } }, [field('Type "' + topic + '" to delete it', confirmName), h('button', { type: 'submit', class: 'danger', text: 'Delete topic' })]);

    // Message browser: seek by offset or time, decode as JSON / text / hex, follow live.
    var offsetIn = h('input', { id: 'browse-offset', type: 'number', min: 0, placeholder: 'earliest' });
    var timeIn = h('input', { id: 'browse-time', type: 'datetime-local', step: 1 });
    var decodeSel = h('select', { id: 'browse-decode' }, ['json', 'text', 'hex'].map(function (f) { return h('option', { value: f, text: f.toUpperCase() }); }));
    var follow = h('input', { id: 'browse-follow', type: 'checkbox' });
    var msgBody = h('tbody');
    var msgTable = h('table', { 'aria-label': 'Messages', id: 'messages' }, [h('thead', null, [h('tr', null, [h('th', { class: 'num', text: 'Offset' }),
      h('th', { text: 'Timestamp' }), h('th', { text: 'Key' }), h('th', { text: 'Headers' }), h('th', { text: 'Value' })])]), msgBody]);
    var browseCtl;
    // Set while a browse has stopped at the end, not following: ticking "Follow live" then
    // goes on from where it stopped (the box is otherwise read only when a page comes back).
    var resumeFollow = null;
    follow.addEventListener('change', function () {
      if (follow.checked && resumeFollow) resumeFollow();
    });
    function row(r) {
      // A header value that is not UTF-8 comes as base64 (value_encoding): shown as bytes, marked.
      var hdrs = (r.headers || []).map(function (x) {
        return x.key + '=' + (x.value === null ? 'null' : x.value_encoding === 'base64' ? decodeAs(x.value, 'text') : x.value);
      }).join(', ');
      return h('tr', null, [h('td', { class: 'num', text: r.offset }), h('td', { text: fmtTime(r.timestamp) }),
        h('td', null, [h('pre', { class: 'value', text: decodeAs(r.key, 'text') })]), h('td', { text: hdrs }),
        h('td', null, [h('pre', { class: 'value', text: decodeAs(r.value, decodeSel.value) })])]);
    }
    function browse(e) {
      if (e) e.preventDefault();
      if (browseCtl) browseCtl.abort();
      resumeFollow = null;
      var ctl = new AbortController();
      browseCtl = ctl;
      aborts.push(ctl);
      var p = partitionSelect.value;
      var base = '/v1/topics/' + enc(topic) + '/partitions/' + p;
      var start = timeIn.value
        ? api('GET', base + '/offsets?timestamp=' + new Date(timeIn.value).getTime(), undefined, ctl.signal).then(function (o) { return o.offset; })
        : offsetIn.value !== '' ? Promise.resolve(Number(offsetIn.value))
          : api('GET', base + '/offsets?timestamp=earliest', undefined, ctl.signal).then(function (o) { return o.offset; });
      msgBody.replaceChildren();
      var shown = 0;
      var lost = 0;
      function page(offset, wait) {
        var q = '?offset=' + offset + '&max_records=100&key_format=base64&value_format=base64' + (wait ? '&wait_ms=10000' : '');
        return api('GET', base + '/records' + q, undefined, ctl.signal).then(function (res) {
          lost = 0;
          res.records.forEach(function (r) { msgBody.appendChild(row(r)); shown++; });
          while (msgBody.children.length > 500) msgBody.removeChild(msgBody.firstChild);
          setStatus(shown + ' message(s) from partition ' + p + '; next offset ' + res.next_offset + ', high watermark ' + res.high_watermark);
          if (ctl.signal.aborted) return;
          if (res.next_offset < res.high_watermark && shown < 100) return page(res.next_offset, false);
          if (follow.checked) return page(res.next_offset, true);
          resumeFollow = function () {
            resumeFollow = null;
            if (!ctl.signal.aborted) page(res.next_offset, true).catch(ended);
          };
        }, function (err) {
          // Following, a lost connection, a restarting server or a 5xx is waited out and the
          // same offset asked again: nothing of a failed request was shown, so the view goes on
          // with no gap and no duplicate. An answer about the request itself (416, 404) stands.
          var transient = err && err.name !== 'AbortError' && (err.status === undefined || err.status === 429 || err.status >= 500);
          if (!follow.checked || ctl.signal.aborted || !transient) throw err;
          lost++;
          setStatus('Lost the connection (' + err.message + '); following again from offset ' + offset + '…', true);
          return new Promise(function (resolve) { timers.push(setTimeout(resolve, Math.min(500 * lost, 5000))); }).then(function () {
            if (!ctl.signal.aborted) return page(offset, wait);
          });
        });
      }
      function ended(err) {
        if (err && err.status === 416) setStatus('That offset is outside the log: ' + err.message, true); else fail(err);
      }
      start.then(function (o) { return page(o, false); }).catch(ended);
    }
    var browseForm = h('form', { class: 'inline', onsubmit: browse }, [field('Partition', partitionSelect), field('From offset', offsetIn),
      field('or from time', timeIn), field('Decode values as', decodeSel), h('label', null, ['Follow live', follow]), h('button', { type: 'submit', text: 'Show messages' })]);

    // Produce one record.
    var key = h('input', { id: 'produce-key' });
    var value = h('textarea', { id: 'produce-value', placeholder: '{"hello":"world"}' });
    var headers = h('textarea', { id: 'produce-headers', placeholder: 'one key=value per line' });
    var asSel = h('select', { id: 'produce-format' }, [h('option', { value: 'json', text: 'JSON' }), h('option', { value: 'string', text: 'text' })]);
    var produceForm = h('form', { class: 'inline', onsubmit: function (e) {
      e.preventDefault();
      var v = value.value;
      if (asSel.value === 'json') {
        try { v = JSON.parse(v); } catch (err) { setStatus('The value is not valid JSON: ' + err.message, true); return; }
      }
      var rec = { value: v };
      if (key.value !== '') rec.key = key.value;
      if (prodPartition.value !== '') rec.partition = Number(prodPartition.value);
      var hs = headers.value.split('\n').filter(function (l) { return l.trim() !== ''; }).map(function (l) {
        var i = l.indexOf('=');
        return i < 0 ? { key: l.trim(), value: null } : { key: l.slice(0, i).trim(), value: l.slice(i + 1) };
      });
      if (hs.length) rec.headers = hs;
      api('POST', '/v1/topics/' + enc(topic) + '/records', { records: [rec], value_format: asSel.value }).then(function (res) {
        var o = res.offsets[0];
        setStatus('Produced to partition ' + o.partition + ' at offset ' + o.offset);
        refresh().catch(fail);
      }, fail);
    } }, [field('Key', key), field('Value', value), field('Value is', asSel), field('Headers', headers), field('Partition', prodPartition),
      h('button', { type: 'submit', text: 'Produce' })]);

    main.replaceChildren(header,
      h('div', { class: 'row' }, [
        h('section', { class: 'card' }, [h('h3', { text: 'Partitions' }), h('table', { 'aria-label': 'Partitions' }, [h('thead', null, [h('tr', null, [
          h('th', { class: 'num', text: 'Partition' }), h('th', { class: 'num', text: 'Log start' }), h('th', { class: 'num', text: 'High watermark' }),
          h('th', { class: 'num', text: 'Records' }), h('th', { class: 'num', text: 'Segments' }), h('th', { class: 'num', text: 'Bytes' })])]), partsBody])]),
        h('section', { class: 'card' }, [h('h3', { text: 'Throughput' }), throughput.el])]),
      h('section', { class: 'card' }, [h('h3', { text: 'Messages' }), browseForm, msgTable]),
      h('section', { class: 'card' }, [h('h3', { text: 'Produce a record' }), produceForm]),
      h('section', { class: 'card' }, [h('h3', { text: 'Configuration' }), h('table', { 'aria-label': 'Configuration' }, [configBody]), alterForm, partsForm, delForm]));
    var browsed = false;
    every(2000, function () {
      return refresh().then(function () {
        if (!browsed) { browsed = true; browse(); }
      });
    });
  }

  function groupsPage() {
    var tbody = h('tbody');
    main.replaceChildren(h('h2', { text: 'Consumer groups' }), h('section', { class: 'card' }, [h('table', { 'aria-label': 'Consumer groups' }, [
      h('thead', null, [h('tr', null, [h('th', { text: 'Group' }), h('th', { text: 'State' }), h('th', { class: 'num', text: 'Members' })])]), tbody])]));
    every(5000, function () {
      return api('GET', '/v1/groups').then(function (list) {
        tbody.replaceChildren.apply(tbody, list.groups.map(function (g) {
          // Kafka clients of the listener hold it: the state and member count are not theirs.
          var kafkaHeld = g.kafka_members === true;
          return h('tr', null, [h('td', null, [h('a', { href: '#/groups/' + enc(g.group), text: g.group })]),
            h('td', { text: kafkaHeld ? 'held by Kafka-protocol members' : g.state }), h('td', { class: 'num', text: kafkaHeld ? '–' : g.members })]);
        }));
        if (list.groups.length === 0) tbody.replaceChildren(h('tr', null, [h('td', { colspan: 3, class: 'muted', text: 'No consumer groups yet.' })]));
      });
    });
  }

  function groupPage(group) {
    var summary = h('p', { id: 'group-summary' });
    var membersBody = h('tbody');
    var lagBody = h('tbody');
    var lagChart = chart('Total lag (records)');
    var topicSel = h('select', { id: 'reset-topic' });
    var toSel = h('select', { id: 'reset-to' }, ['earliest', 'latest', 'timestamp', 'offset'].map(function (x) { return h('option', { value: x, text: x }); }));
    var toVal = h('input', { id: 'reset-value', placeholder: 'ms since epoch, or an offset' });
    var preview = h('tbody');
    var rows = [];
    var kafkaHeld = false;
    var previewBtn = h('button', { type: 'submit', class: 'secondary', text: 'Preview reset' });
    var refresh = single(function () {
      return Promise.all([api('GET', '/v1/groups/' + enc(group)), api('GET', '/v1/groups/' + enc(group) + '/offsets')]).then(function (r) {
        var d = r[0], o = r[1];
        // Kafka clients of the listener hold it: their membership is not the coordinator's (it
        // would read Empty, 0 members), and the server refuses a reset until they leave.
        kafkaHeld = d.kafka_members === true;
        previewBtn.disabled = kafkaHeld;
        if (kafkaHeld) {
          summary.textContent = 'Held by Kafka-protocol members through the Kafka listener (kafka-consumer-groups --describe lists them), total lag ' + o.lag;
          membersBody.replaceChildren(h('tr', null, [h('td', { colspan: 2, class: 'muted', text: 'Kafka-protocol members: not listed here' })]));
        } else {
          summary.textContent = 'State ' + d.state + ', generation ' + d.generation + ', ' + d.members.length + ' member(s), total lag ' + o.lag;
          membersBody.replaceChildren.apply(membersBody, d.members.map(function (m) {
            return h('tr', null, [h('td', { text: m.member_id }), h('td', { text: m.assignment.map(function (a) { return a.topic + '/' + a.partition; }).join(', ') })]);
          }));
        }
        rows = o.offsets;
        lagBody.replaceChildren.apply(lagBody, o.offsets.map(function (x) {
          var risk = x.expiry_risk ? h('span', { class: 'warn', text: 'at risk: retention deletes unconsumed records' }) : h('span', { class: 'ok', text: 'ok' });
          return h('tr', null, [h('td', { text: x.topic }), h('td', { class: 'num', text: x.partition }), h('td', { class: 'num', text: x.offset }),
            h('td', { class: 'num', text: x.high_watermark }), h('td', { class: 'num', text: x.lag }),
            h('td', { class: 'num', text: x.lag_ms === undefined ? '–' : fmtMs(x.lag_ms) }), h('td', null, [risk])]);
        }));
        var topics = Array.from(new Set(o.offsets.map(function (x) { return x.topic; })));
        // Rebuilt when the topics change (not only their number), keeping the one picked.
        var shownTopics = Array.prototype.map.call(topicSel.options, function (x) { return x.value; });
        if (shownTopics.join('\n') !== topics.join('\n')) {
          var picked = topicSel.value;
          topicSel.replaceChildren.apply(topicSel, topics.map(function (t) { return h('option', { value: t, text: t }); }));
          if (topics.indexOf(picked) >= 0) topicSel.value = picked;
        }
        lagChart.push(o.lag);
      });
    });
    function target() {
      var to = toSel.value;
      if (to !== 'timestamp' && to !== 'offset') return to;
      var n = toVal.value.trim() === '' ? NaN : Number(toVal.value);
      if (!Number.isSafeInteger(n) || n < 0) return null;
      return to === 'timestamp' ? { timestamp: n } : { offset: n };
    }
    // What the preview showed, partition by partition: Apply sends exactly this. Recomputing it
    // at apply time ("latest" a moment later, say) would move the group somewhere not shown.
    var pending = null;
    var previewNo = 0;
    function clearPreview() {
      previewNo++; // a preview still being computed is for a form that has changed since
      pending = null;
      applyBtn.disabled = true;
      preview.replaceChildren();
    }
    var resetForm = h('form', { class: 'inline', oninput: clearPreview, onchange: clearPreview, onsubmit: function (e) {
      e.preventDefault();
      // Preview first (what each partition would move to); the change needs a second click.
      // Every partition of the topic: the reset moves them all, committed or not.
      var t = topicSel.value, to = target();
      clearPreview();
      if (kafkaHeld) { setStatus('Kafka-protocol members hold this group: its offsets can be reset once they leave', true); return; }
      var mine = previewNo;
      if (to === null) { setStatus('Give the value as a whole number (ms since epoch, or an offset)', true); return; }
      var now = {};
      rows.forEach(function (x) { if (x.topic === t && x.offset >= 0) now[x.partition] = x.offset; });
      api('GET', '/v1/topics/' + enc(t)).then(function (d) {
        return Promise.all(d.partitions.map(function (p) {
          // As the server clamps an offset target: into the partition's range.
          if (typeof to === 'object' && 'offset' in to) return Math.min(Math.max(to.offset, p.log_start_offset), p.high_watermark);
          var spec = typeof to === 'object' ? to.timestamp : to;
          return api('GET', '/v1/topics/' + enc(t) + '/partitions/' + p.partition + '/offsets?timestamp=' + spec).then(function (r) { return r.offset; });
        })).then(function (next) {
          if (mine !== previewNo) return;
          var plan = d.partitions.map(function (p, i) { return { partition: p.partition, offset: next[i] }; });
          preview.replaceChildren.apply(preview, plan.map(function (x) {
            return h('tr', null, [h('td', { text: t }), h('td', { class: 'num', text: x.partition }),
              h('td', { class: 'num', text: now[x.partition] === undefined ? '–' : now[x.partition] }), h('td', { class: 'num', text: x.offset })]);
          }));
          pending = { topic: t, offsets: plan };
          applyBtn.disabled = false;
          setStatus('Preview ready: check the new offsets, then apply.');
        });
      }).catch(fail);
    } }, [field('Topic', topicSel), field('Reset to', toSel), field('Value', toVal), previewBtn]);
    var applyBtn = h('button', { type: 'button', class: 'danger', disabled: true, id: 'reset-apply', text: 'Apply reset', onclick: function () {
      if (!pending) return;
      var plan = pending;
      api('POST', '/v1/groups/' + enc(group) + '/offsets/reset', { topic: plan.topic, to: { offsets: plan.offsets } }).then(function () {
        setStatus('Offsets reset'); clearPreview(); refresh().catch(fail);
      }, fail);
    } });
    main.replaceChildren(h('h2', null, ['Group ', h('span', { text: group })]), summary,
      h('div', { class: 'row' }, [
        h('section', { class: 'card' }, [h('h3', { text: 'Members' }), h('table', { 'aria-label': 'Members' }, [h('thead', null, [h('tr', null, [
          h('th', { text: 'Member' }), h('th', { text: 'Assignment' })])]), membersBody])]),
        h('section', { class: 'card' }, [h('h3', { text: 'Lag over time' }), lagChart.el])]),
      h('section', { class: 'card' }, [h('h3', { text: 'Lag per partition' }), h('table', { 'aria-label': 'Lag per partition', id: 'lag' }, [h('thead', null, [h('tr', null, [
        h('th', { text: 'Topic' }), h('th', { class: 'num', text: 'Partition' }), h('th', { class: 'num', text: 'Committed' }), h('th', { class: 'num', text: 'High watermark' }),
        h('th', { class: 'num', text: 'Lag' }), h('th', { class: 'num', text: 'Lag (time)' }), h('th', { text: 'Retention' })])]), lagBody])]),
      h('section', { class: 'card' }, [h('h3', { text: 'Reset offsets (only while the group has no members)' }), resetForm,
        h('table', { 'aria-label': 'Reset preview' }, [h('thead', null, [h('tr', null, [h('th', { text: 'Topic' }), h('th', { class: 'num', text: 'Partition' }),
          h('th', { class: 'num', text: 'Now' }), h('th', { class: 'num', text: 'After reset' })])]), preview]), applyBtn]));
    every(2000, refresh);
  }

  function render() {
    timers.forEach(clearTimeout);
    aborts.forEach(function (a) { a.abort(); });
    pageCtl.abort();
    pageCtl = new AbortController();
    pageNo++;
    timers = [];
    aborts = [];
    setStatus('');
    var parts = (location.hash || '#/topics').slice(2).split('/');
    var section = parts[0] || 'topics';
    var name;
    try {
      name = parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : undefined;
    } catch (e) {
      // A bad percent-escape (a truncated or hand-edited link): say so instead of a blank page.
      main.replaceChildren(h('h2', { text: 'Not a console link' }),
        h('p', { role: 'alert', text: 'The address ' + location.hash + ' cannot be read (' + e.message + '). Pick Topics or Consumer groups above.' }));
      setStatus('Malformed link: ' + location.hash, true);
      document.title = 'Samsa console';
      return;
    }
    document.querySelectorAll('header nav a').forEach(function (a) {
      if (a.getAttribute('href') === '#/' + section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    if (section === 'groups') { if (name) groupPage(name); else groupsPage(); }
    else if (name) topicPage(name);
    else topicsPage();
    document.title = 'Samsa console' + (name ? ' — ' + name : '');
    main.focus();
  }
  window.addEventListener('hashchange', render);
  render();
})();
`;
