/* Lamed batching adapter for Alephbet: `tracking_adapter: new LamedBatchAdapter(trackUrl, namespace)`.
 *
 * Alephbet's own LamedAdapter sends one GET per event. This one queues events
 * in localStorage and sends them as one `POST /track` batch when `maxEvents`
 * are queued, after `maxSeconds`, and when the page is hidden: `fetch` with
 * `keepalive` (the request outlives the page) and a `text/plain` JSON body
 * (a simple request: no CORS preflight). Every event keeps its uuid, so
 * sending one twice never counts it twice: exactly-once is the server's job.
 *
 * The answer settles items one by one: counted, duplicate, refused and
 * not_counted leave the queue; invalid ones too, with a console warning;
 * everything else stays. A 503, another status or a network error keeps the
 * whole batch and retries with exponential backoff (1 s doubling to 60 s).
 * An item sent is leased for `leaseSeconds`: a page that reloads while its
 * batch is in the air does not send it again at once; if that answer was
 * never seen (the old page was gone), the item goes again after the lease,
 * and the server answers duplicate.
 */
(function (root) {
  "use strict";

  var SETTLED = { counted: 1, duplicate: 1, refused: 1, not_counted: 1 };
  var MAX_BATCH = 100; // events per request: well under the server's 500 and keepalive's 64 KiB
  var MAX_BACKOFF_SECONDS = 60;

  function LamedBatchAdapter(url, namespace, options) {
    options = options || {};
    this.url = url;
    this.namespace = namespace || "alephbet";
    this.maxEvents = options.maxEvents || 10;
    this.maxSeconds = options.maxSeconds === undefined ? 5 : options.maxSeconds;
    this.leaseSeconds = options.leaseSeconds === undefined ? 30 : options.leaseSeconds;
    this.maxQueue = options.maxQueue || 500; // bounds localStorage: the oldest go first
    this.queueName = options.queueName || "_lamed_batch_queue";
    this._failures = 0;
    this._timer = null;
    this._sending = false;
    var self = this;
    root.addEventListener("pagehide", function () { self.flush(true); });
    root.document.addEventListener("visibilitychange", function () {
      if (root.document.visibilityState === "hidden") self.flush(true);
    });
    root.addEventListener("online", function () { self._failures = 0; self.flush(); });
    if (this._load().length) this._schedule(0); // what an earlier page left behind
  }

  LamedBatchAdapter.prototype.experiment_start = function (experiment, variant) {
    this._track(experiment, variant, { name: "participate", unique: true });
  };

  LamedBatchAdapter.prototype.goal_complete = function (experiment, variant, goalName, props) {
    this._track(experiment, variant, { name: goalName, unique: !props || props.unique !== false });
  };

  // The uuid as Alephbet's own adapter makes it: for a unique goal of a known
  // user, the same on every device; else a new random one.
  LamedBatchAdapter.prototype._uuid = function (experiment, goal) {
    var utils = root.AlephBet && root.AlephBet.utils;
    if (experiment.user_id && goal.unique && utils) {
      return utils.sha1(this.namespace + "." + experiment.name + "." + goal.name + "." + experiment.user_id);
    }
    return utils ? utils.uuid() : root.crypto.randomUUID();
  };

  LamedBatchAdapter.prototype._track = function (experiment, variant, goal) {
    var queue = this._load();
    queue.push({
      id: this._uuid({}, {}), // the queue's own id for the item
      sent: 0,
      event: {
        namespace: this.namespace,
        experiment: experiment.name,
        variant: variant,
        event: goal.name,
        uuid: this._uuid(experiment, goal)
      }
    });
    if (queue.length > this.maxQueue) queue.splice(0, queue.length - this.maxQueue);
    this._save(queue);
    // While backing off, the backoff's timer sends: new events do not hurry it.
    if (!this._failures && this._due(queue).length >= this.maxEvents) this.flush();
    else if (!this._timer) this._schedule(this.maxSeconds * 1000);
  };

  // Sends one batch of the items not in the air; `hiding`: the page is going
  // away, so send now whatever else is happening.
  LamedBatchAdapter.prototype.flush = function (hiding) {
    if (this._sending && !hiding) return;
    if (!hiding && root.navigator.onLine === false) return; // the "online" event flushes
    var queue = this._load();
    var batch = this._due(queue).slice(0, MAX_BATCH);
    if (!batch.length) {
      if (queue.length && !hiding) this._schedule(this._leaseLeft(queue)); // all in the air: wait for the lease
      return;
    }
    var now = Date.now();
    var ids = {};
    batch.forEach(function (item) { ids[item.id] = 1; });
    queue.forEach(function (item) { if (ids[item.id]) item.sent = now; });
    this._save(queue);
    this._clearTimer();
    this._sending = true;
    var self = this;
    root.fetch(this.url, {
      method: "POST",
      body: JSON.stringify({ events: batch.map(function (item) { return item.event; }) }),
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      keepalive: true,
      credentials: "omit"
    }).then(function (response) {
      if (response.status !== 200 && response.status !== 400) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (answer) {
      self._sending = false;
      self._failures = 0;
      self._settle(batch, answer);
      if (self._due(self._load()).length >= self.maxEvents) self.flush();
      else if (self._load().length) self._schedule(self.maxSeconds * 1000);
    }).catch(function () {
      self._sending = false;
      self._release(batch);
      self._failures += 1;
      self._schedule(Math.min(MAX_BACKOFF_SECONDS, Math.pow(2, self._failures - 1)) * 1000);
    });
  };

  // Removes exactly the items the answer settled; the rest go back to the queue.
  LamedBatchAdapter.prototype._settle = function (batch, answer) {
    var results = answer && answer.results;
    var done = {};
    if (!results || results.length !== batch.length) {
      console.warn("lamed: the server refused the whole batch, dropped", answer);
      batch.forEach(function (item) { done[item.id] = 1; });
    } else {
      batch.forEach(function (item, index) {
        var result = results[index] || {};
        if (SETTLED[result.status]) done[item.id] = 1;
        else if (result.status === "invalid") {
          console.warn("lamed: invalid event dropped", item.event, result);
          done[item.id] = 1;
        }
      });
    }
    this._save(this._load().filter(function (item) { return !done[item.id]; }));
    this._release(batch.filter(function (item) { return !done[item.id]; }));
  };

  LamedBatchAdapter.prototype._release = function (batch) {
    var ids = {};
    batch.forEach(function (item) { ids[item.id] = 1; });
    var queue = this._load();
    queue.forEach(function (item) { if (ids[item.id]) item.sent = 0; });
    this._save(queue);
  };

  LamedBatchAdapter.prototype._due = function (queue) {
    var expired = Date.now() - this.leaseSeconds * 1000;
    return queue.filter(function (item) { return !item.sent || item.sent < expired; });
  };

  // Milliseconds until the first lease of the queue runs out.
  LamedBatchAdapter.prototype._leaseLeft = function (queue) {
    var first = Math.min.apply(null, queue.map(function (item) { return item.sent || 0; }));
    return Math.max(0, first + this.leaseSeconds * 1000 - Date.now()) + 50;
  };

  LamedBatchAdapter.prototype._schedule = function (milliseconds) {
    this._clearTimer();
    var self = this;
    this._timer = root.setTimeout(function () { self._timer = null; self.flush(); }, milliseconds);
  };

  LamedBatchAdapter.prototype._clearTimer = function () {
    if (this._timer) root.clearTimeout(this._timer);
    this._timer = null;
  };

  LamedBatchAdapter.prototype._load = function () {
    try {
      var queue = JSON.parse(root.localStorage.getItem(this.queueName) || "[]");
      return Array.isArray(queue) ? queue : [];
    } catch (error) {
      return [];
    }
  };

  LamedBatchAdapter.prototype._save = function (queue) {
    try {
      root.localStorage.setItem(this.queueName, JSON.stringify(queue));
    } catch (error) {
      console.warn("lamed: localStorage refused the queue", error);
    }
  };

  root.LamedBatchAdapter = LamedBatchAdapter;
})(window);
