// jit web: live updates, countdowns, local times and the request form's
// hints. Every page works without it; this only keeps pages current.
(function () {
  'use strict';
  var body = document.body;
  var path = body.getAttribute('data-path') || location.pathname + location.search;

  // A page rendered in answer to a form post shows the address of the
  // post; put the page's own address there, so that reloading does not
  // post again.
  if (path && location.pathname + location.search !== path && history.replaceState) {
    history.replaceState(null, '', path + location.hash);
  }

  var focusMe = document.querySelector('[data-focus]');
  if (focusMe) { focusMe.focus(); }

  // ---- Countdowns and local times ----
  function leftText(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    if (h > 0) { return h + 'h ' + m + 'm left'; }
    if (m > 0) { return m + 'm ' + s + 's left'; }
    return s + 's left';
  }
  function tick() {
    var now = Date.now(), ended = false;
    document.querySelectorAll('[data-expires]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('data-expires'));
      if (isNaN(t)) { return; }
      var text = t - now > 0 ? leftText(t - now) : 'expiring now';
      if (text === 'expiring now' && el.textContent !== text) { ended = true; }
      if (el.textContent !== text) { el.textContent = text; }
    });
    if (ended) { schedule(); }
  }
  function localTimes(root) {
    root.querySelectorAll('time[data-local]').forEach(function (el) {
      var t = new Date(el.getAttribute('datetime'));
      if (isNaN(t.getTime())) { return; }
      el.title = el.textContent;
      el.textContent = t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    });
  }
  localTimes(document);
  tick();
  setInterval(tick, 1000);

  // ---- Live updates ----
  // On a change, fetch this page again and swap its live regions; a region
  // someone is typing in waits until they leave it.
  var timer = null, busy = false, again = false;
  function schedule() {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; refresh(); }, 300);
  }
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(path, { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Jit-Live': '1' } })
      .then(function (resp) {
        // Signed out (sent to the sign-in page) or failing: keep what is shown.
        if (resp.redirected || !resp.ok) { throw new Error('refresh: ' + resp.status); }
        return resp.text();
      })
      .then(function (html) { swap(new DOMParser().parseFromString(html, 'text/html')); })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }
  function typing(region) {
    var a = document.activeElement;
    return a && region.contains(a) && a.matches('input:not([type=hidden]):not([type=radio]), textarea, select');
  }
  function swap(doc) {
    var changed = false;
    document.querySelectorAll('[data-live]').forEach(function (old) {
      var fresh = doc.getElementById(old.id);
      if (!fresh) { return; }
      if (typing(old)) {
        old.addEventListener('focusout', function later() {
          old.removeEventListener('focusout', later);
          schedule();
        });
        return;
      }
      // Keep what the person opened or typed.
      old.querySelectorAll('details[id][open]').forEach(function (d) {
        var n = fresh.querySelector('#' + CSS.escape(d.id));
        if (n) { n.open = true; }
      });
      old.querySelectorAll('input[id], textarea[id]').forEach(function (f) {
        var n = fresh.querySelector('#' + CSS.escape(f.id));
        if (n && f.value !== f.defaultValue) { n.value = f.value; }
      });
      var focusedId = document.activeElement && old.contains(document.activeElement) ? document.activeElement.id : '';
      var node = document.importNode(fresh, true);
      localTimes(node);
      old.replaceWith(node);
      if (focusedId) {
        var f = document.getElementById(focusedId);
        if (f) { f.focus(); }
      }
      changed = true;
    });
    if (changed) {
      tick();
      var status = document.getElementById('live-status');
      if (status) { status.textContent = 'Updated at ' + new Date().toLocaleTimeString(); }
    }
  }
  if (window.EventSource && body.hasAttribute('data-live-events')) {
    var only = body.getAttribute('data-request');
    var since = body.getAttribute('data-since') || '';
    var es = new EventSource('/events?since=' + encodeURIComponent(since));
    es.addEventListener('change', function (e) {
      if (!only || e.data === only) { schedule(); }
    });
    es.addEventListener('reload', schedule);
    es.addEventListener('signed-out', function () { es.close(); location.reload(); });
    window.addEventListener('pagehide', function () { es.close(); });
  }

  // ---- The request form ----
  var res = document.getElementById('resource');
  var offers = document.getElementById('offers');
  if (res && offers) {
    var access = document.getElementById('access');
    var allLevels = Array.prototype.map.call(access.options, function (o) { return o.value; }).filter(Boolean);
    var hintFor = function (id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } };
    var offerFor = function (name) {
      for (var i = 0; i < offers.options.length; i++) {
        if (offers.options[i].value === name) { return offers.options[i]; }
      }
      return null;
    };
    // The target field offers what the server lists under the part typed
    // so far: the namespaces, then after "KIND/NAMESPACE/" its objects.
    var targetField = document.getElementById('target-field');
    var target = document.getElementById('target');
    var targetList = document.getElementById('targets');
    var targetCache = {};
    var targetTimer = null;
    var fillTargets = function (items) {
      while (targetList.firstChild) { targetList.removeChild(targetList.firstChild); }
      items.forEach(function (t) {
        var opt = document.createElement('option');
        opt.value = t;
        targetList.appendChild(opt);
      });
    };
    var loadTargets = function () {
      if (!target || !targetList) { return; }
      var o = offerFor(res.value.trim());
      if (!o || o.getAttribute('data-target') !== 'true') { fillTargets([]); return; }
      var v = target.value;
      var cut = v.lastIndexOf('/');
      var parent = cut > 0 ? v.slice(0, cut) : '';
      var key = o.value + '\n' + parent;
      if (targetCache[key]) { fillTargets(targetCache[key]); return; }
      clearTimeout(targetTimer);
      targetTimer = setTimeout(function () {
        fetch('/targets?resource=' + encodeURIComponent(o.value) + '&parent=' + encodeURIComponent(parent), {credentials: 'same-origin'})
          .then(function (r) { return r.ok ? r.json() : {items: []}; })
          .then(function (d) { targetCache[key] = d.items || []; fillTargets(targetCache[key]); })
          .catch(function () { fillTargets([]); });
      }, 150);
    };
    if (target) { target.addEventListener('input', loadTargets); target.addEventListener('focus', loadTargets); }
    var anyQuery = Array.prototype.some.call(offers.options, function (o) { return o.getAttribute('data-query') === 'true'; });
    var update = function () {
      var o = offerFor(res.value.trim());
      var levels = o ? o.getAttribute('data-access').split(',').filter(Boolean) : allLevels;
      var keep = access.value;
      while (access.options.length > 1) { access.remove(1); }
      levels.forEach(function (l) {
        var opt = document.createElement('option');
        opt.value = l; opt.textContent = l; opt.selected = l === keep;
        access.appendChild(opt);
      });
      var queryField = document.getElementById('query-field');
      var query = document.getElementById('query');
      if (queryField) { queryField.hidden = !(o ? o.getAttribute('data-query') === 'true' : anyQuery) && !(query && query.value); }
      if (targetField) { targetField.hidden = !(o && o.getAttribute('data-target') === 'true') && !(target && target.value); }
      var keyField = document.getElementById('sshkey-field');
      var keyInput = document.getElementById('ssh_public_key');
      if (keyField) { keyField.hidden = !(o && o.getAttribute('data-sshkey') === 'true') && !(keyInput && keyInput.value); }
      loadTargets();
      if (!o) {
        hintFor('access-hint', 'Each resource has its own levels.');
        hintFor('duration-hint', 'Like 30m, 2h or 1d.');
        hintFor('reason-hint', 'Say why you need it, for example a ticket number.');
        hintFor('approvers-hint', 'Who approves depends on the resource.');
        return;
      }
      var def = o.getAttribute('data-default');
      hintFor('resource-hint', o.textContent ? o.textContent + '.' : '');
      hintFor('access-hint', 'Levels: ' + levels.join(', ') + (def ? ' (default ' + def + ').' : '.'));
      hintFor('duration-hint', 'Up to ' + o.getAttribute('data-max') + '. Like 30m, 2h or 1d.');
      var pattern = o.getAttribute('data-pattern');
      hintFor('reason-hint', pattern ? 'Required; it must match ' + pattern + '.' :
        (o.getAttribute('data-reason') === 'true' ? 'Required.' : 'Optional.'));
      var n = o.getAttribute('data-approvals'), who = o.getAttribute('data-approvers');
      hintFor('approvers-hint', o.getAttribute('data-approval') === 'true' ?
        'Needs ' + n + ' approval' + (n === '1' ? '' : 's') + ' from ' + who + '.' :
        'Approved automatically where the rule allows' + (who ? '; otherwise by ' + who : '') + '.');
    };
    res.addEventListener('change', update);
    res.addEventListener('input', update);
    if (res.value) { update(); }
  }
})();
