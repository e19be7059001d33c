// The engine-free core: one ClientWebSocket, many concurrent requests, reconnects by itself.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace PersonaMCP
{
    public sealed class PersonaClientOptions
    {
        /// <summary>Sent with session.authenticate after every (re)connect.</summary>
        public string ApiKey;
        public bool Reconnect = true;
        public TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);
        public TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
        public TimeSpan BackoffInitial = TimeSpan.FromMilliseconds(200);
        public TimeSpan BackoffMax = TimeSpan.FromSeconds(10);
        /// <summary>At most this many requests on the wire; more wait for a slot.</summary>
        public int MaxInFlight = 256;
        /// <summary>Warnings (bad frames, failed handlers, reconnects). Default: Console.Error.</summary>
        public Action<string> Log;
    }

    /// <summary>An <c>event</c> notification: topic, type, data, at.</summary>
    public sealed class PersonaEvent
    {
        public string Topic, Type, At;
        public Dictionary<string, object> Data;
    }

    public sealed class Subscription
    {
        internal readonly string[] Topics;
        internal readonly Action<PersonaEvent> Handler;
        readonly PersonaClient _client;
        internal Subscription(PersonaClient client, string[] topics, Action<PersonaEvent> handler)
        {
            _client = client; Topics = topics; Handler = handler;
        }
        public Task UnsubscribeAsync() { return _client.UnsubscribeAsync(this); }
    }

    /// <summary>
    /// A Persona-MCP client. <c>await PersonaClient.ConnectAsync(url, options)</c> connects and
    /// authenticates. When the socket drops it reconnects with exponential backoff and jitter,
    /// authenticates again, switches back to the active persona and subscribes again. Requests in
    /// flight then fail with ConnectionLostException; new ones wait (within their timeout).
    /// Callbacks (deltas, events, notifications) run on the client's receive thread.
    /// </summary>
    public sealed class PersonaClient : IDisposable
    {
        const int MaxFrame = 32 * 1024 * 1024;
        readonly string _url;
        readonly PersonaClientOptions _o;
        readonly ConcurrentDictionary<long, TaskCompletionSource<object>> _pending =
            new ConcurrentDictionary<long, TaskCompletionSource<object>>();
        readonly ConcurrentDictionary<long, TurnStream> _streams = new ConcurrentDictionary<long, TurnStream>();
        readonly List<Subscription> _subs = new List<Subscription>();
        readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        readonly SemaphoreSlim _slots;
        readonly CancellationTokenSource _closing = new CancellationTokenSource();
        readonly object _gate = new object();
        readonly Random _random = new Random();
        TaskCompletionSource<bool> _ready = NewReady();
        ClientWebSocket _ws;
        Task _supervisor;
        long _nextId;
        volatile bool _closed;
        Exception _fatal;

        public string ActivePersona { get; private set; }
        public IList<string> Scopes { get; private set; }
        /// <summary>How many times a connection was (re)established.</summary>
        public int Connects { get; private set; }
        /// <summary>Every notification other than chunks and events: (method, params).</summary>
        public event Action<string, object> Notification;

        public PersonaClient(string url, PersonaClientOptions options = null)
        {
            _url = url;
            _o = options ?? new PersonaClientOptions();
            _slots = new SemaphoreSlim(Math.Max(1, _o.MaxInFlight));
            Scopes = new List<string>();
            if (_o.Log == null) _o.Log = m => Console.Error.WriteLine("personamcp: " + m);
        }

        static TaskCompletionSource<bool> NewReady()
        {
            return new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public static async Task<PersonaClient> ConnectAsync(string url, PersonaClientOptions options = null)
        {
            var client = new PersonaClient(url, options);
            await client.ConnectAsync().ConfigureAwait(false);
            return client;
        }

        /// <summary>Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2^attempt.</summary>
        public static TimeSpan BackoffDelay(int attempt, TimeSpan initial, TimeSpan maximum, Random random)
        {
            var ceiling = Math.Min(maximum.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
            return TimeSpan.FromMilliseconds(ceiling / 2 + random.NextDouble() * ceiling / 2);
        }

        /// <summary>Open the first connection; throws if unreachable or the key is refused.</summary>
        public async Task ConnectAsync()
        {
            var ws = await OpenAsync().ConfigureAwait(false);
            var reader = Task.Run(() => ReadLoop(ws));
            try
            {
                await RestoreAsync().ConfigureAwait(false);
            }
            catch
            {
                _closed = true;
                ws.Abort();
                throw;
            }
            _ready.TrySetResult(true);
            _supervisor = Task.Run(() => Supervise(reader));
        }

        async Task<ClientWebSocket> OpenAsync()
        {
            var ws = new ClientWebSocket();
            ws.Options.KeepAliveInterval = TimeSpan.FromSeconds(20);
            using (var timeout = new CancellationTokenSource(_o.ConnectTimeout))
            {
                try
                {
                    await ws.ConnectAsync(new Uri(_url), timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    ws.Dispose();
                    throw new ConnectionLostException("could not connect to " + _url + ": " + e.Message);
                }
            }
            _ws = ws;
            return ws;
        }

        async Task RestoreAsync()
        {
            if (!string.IsNullOrEmpty(_o.ApiKey))
            {
                var auth = await RequestAsync("session.authenticate", new Dictionary<string, object> { { "token", _o.ApiKey } },
                    _o.RequestTimeout, null, true).ConfigureAwait(false) as Dictionary<string, object>;
                object scopes;
                if (auth != null && auth.TryGetValue("scopes", out scopes) && scopes is List<object>)
                    Scopes = ((List<object>)scopes).Select(s => Convert.ToString(s)).ToList();
            }
            if (ActivePersona != null)
                await RequestAsync("persona.switch", new Dictionary<string, object> { { "persona_id", ActivePersona } },
                    _o.RequestTimeout, null, true).ConfigureAwait(false);
            var topics = AllTopics();
            if (topics.Count > 0)
                await RequestAsync("events.subscribe", new Dictionary<string, object> { { "topics", topics } },
                    _o.RequestTimeout, null, true).ConfigureAwait(false);
            Connects++;
        }

        async Task Supervise(Task reader)
        {
            var attempt = 0;
            while (true)
            {
                await reader.ConfigureAwait(false);
                lock (_gate) { if (_ready.Task.IsCompleted) _ready = NewReady(); }
                FailPending(new ConnectionLostException("the connection closed"));
                if (_closed || !_o.Reconnect)
                {
                    _closed = true;
                    _ready.TrySetException(_fatal ?? new ClientClosedException());
                    return;
                }
                while (true)
                {
                    var delay = BackoffDelay(attempt++, _o.BackoffInitial, _o.BackoffMax, _random);
                    try { await Task.Delay(delay, _closing.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { _ready.TrySetException(new ClientClosedException()); return; }
                    ClientWebSocket ws;
                    try { ws = await OpenAsync().ConfigureAwait(false); }
                    catch (ConnectionLostException e) { _o.Log("reconnect failed: " + e.Message); continue; }
                    if (_closed) { ws.Abort(); ws.Dispose(); _ready.TrySetException(new ClientClosedException()); return; }
                    reader = Task.Run(() => ReadLoop(ws));
                    try
                    {
                        await RestoreAsync().ConfigureAwait(false);
                    }
                    catch (RpcException e)
                    {
                        _o.Log("could not restore the session after reconnecting: " + e.Message);
                        _fatal = e;
                        _closed = true;
                        ws.Abort();
                        await reader.ConfigureAwait(false);
                        FailPending(e);
                        _ready.TrySetException(e);
                        return;
                    }
                    catch (PersonaMCPException)
                    {
                        ws.Abort();
                        await reader.ConfigureAwait(false);
                        continue;
                    }
                    attempt = 0;
                    _ready.TrySetResult(true);
                    break;
                }
            }
        }

        void FailPending(Exception error)
        {
            foreach (var id in _pending.Keys.ToList())
            {
                TaskCompletionSource<object> tcs;
                if (_pending.TryRemove(id, out tcs)) tcs.TrySetException(error);
            }
        }

        // --- reading ---------------------------------------------------------------------

        async Task ReadLoop(ClientWebSocket ws)
        {
            var buffer = new byte[16 * 1024];
            var message = new MemoryStream();
            try
            {
                while (ws.State == WebSocketState.Open)
                {
                    message.SetLength(0);
                    WebSocketReceiveResult result;
                    var tooLarge = false;
                    do
                    {
                        result = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), CancellationToken.None).ConfigureAwait(false);
                        if (result.MessageType == WebSocketMessageType.Close) return;
                        if (message.Length + result.Count > MaxFrame) tooLarge = true;
                        else message.Write(buffer, 0, result.Count);
                    } while (!result.EndOfMessage);
                    if (tooLarge) { _o.Log("ignoring a frame over " + MaxFrame + " bytes"); continue; }
                    if (result.MessageType == WebSocketMessageType.Binary)
                    {
                        _o.Log("ignoring a binary frame from the server (" + message.Length + " bytes)");
                        continue;
                    }
                    OnFrame(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                }
            }
            catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is OperationCanceledException || e is IOException)
            {
                // the connection is gone; the supervisor reconnects
            }
            finally
            {
                if (_ws == ws) _ws = null;
                ws.Dispose();
            }
        }

        void OnFrame(string text)
        {
            object message;
            try { message = Json.Parse(text); }
            catch (JsonException)
            {
                _o.Log("ignoring a frame that is not JSON: " + (text.Length > 80 ? text.Substring(0, 80) : text));
                return;
            }
            var list = message as List<object>;
            foreach (var item in list ?? new List<object> { message })
            {
                try { Dispatch(item); }
                catch (Exception e) { _o.Log("error while handling a message from the server: " + e); }
            }
        }

        void Dispatch(object item)
        {
            var m = item as Dictionary<string, object>;
            if (m == null) { _o.Log("ignoring a JSON value that is not a message: " + Json.Serialize(item)); return; }
            object method, id, parameters;
            m.TryGetValue("params", out parameters);
            if (m.TryGetValue("method", out method))
            {
                if (!m.ContainsKey("id")) OnNotification(Convert.ToString(method), parameters);
                else _o.Log("ignoring a request from the server");
                return;
            }
            var hasResult = m.ContainsKey("result");
            var hasError = m.ContainsKey("error");
            if (hasResult == hasError) { _o.Log("ignoring a response with neither or both result/error"); return; }
            m.TryGetValue("id", out id);
            TaskCompletionSource<object> tcs;
            if (!(id is long) || !_pending.TryRemove((long)id, out tcs))
            {
                _o.Log("ignoring a response for an unknown id: " + Json.Serialize(id));
                return;
            }
            if (hasError) tcs.TrySetException(RpcException.From(m["error"]));
            else tcs.TrySetResult(m["result"]);
        }

        void OnNotification(string method, object parameters)
        {
            var p = parameters as Dictionary<string, object>;
            if (method == "conversation.chunk" && p != null)
            {
                object rid;
                TurnStream stream;
                if (p.TryGetValue("request_id", out rid) && rid is long && _streams.TryGetValue((long)rid, out stream))
                    stream.OnChunk(p, _o.Log);
                return;
            }
            if (method == "event" && p != null)
            {
                var ev = new PersonaEvent
                {
                    Topic = Str(p, "topic"), Type = Str(p, "type"), At = Str(p, "at"),
                    Data = Get(p, "data") as Dictionary<string, object> ?? new Dictionary<string, object>(),
                };
                Subscription[] subs;
                lock (_subs) subs = _subs.ToArray();
                foreach (var sub in subs)
                    if (sub.Topics.Any(t => TopicMatches(t, ev)))
                    {
                        try { sub.Handler(ev); }
                        catch (Exception e) { _o.Log("an event handler failed: " + e); }
                    }
                return;
            }
            var handler = Notification;
            if (handler == null) return;
            try { handler(method, parameters); }
            catch (Exception e) { _o.Log("a notification handler failed: " + e); }
        }

        /// <summary>Whether an event belongs to a topic pattern (persona.*, persona.alice, *):
        /// the server names the primary topic (persona.&lt;id&gt;); a pattern may use the slug.</summary>
        public static bool TopicMatches(string pattern, PersonaEvent ev)
        {
            var topic = ev.Topic ?? "";
            if (pattern == "*" || pattern == topic) return true;
            if (pattern.EndsWith(".*") && topic.StartsWith(pattern.Substring(0, pattern.Length - 1))) return true;
            var kind = topic.Split('.')[0];
            foreach (var key in new[] { "id", "slug" })
            {
                var v = Get(ev.Data, key);
                if (v != null && kind + "." + Convert.ToString(v) == pattern) return true;
            }
            return false;
        }

        internal static object Get(Dictionary<string, object> d, string key)
        {
            object v;
            return d != null && d.TryGetValue(key, out v) ? v : null;
        }

        internal static string Str(Dictionary<string, object> d, string key)
        {
            var v = Get(d, key);
            return v == null ? null : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture);
        }

        // --- requests --------------------------------------------------------------------

        async Task<object> RequestAsync(string method, object parameters, TimeSpan timeout, long? fixedId, bool internalCall)
        {
            var id = fixedId ?? Interlocked.Increment(ref _nextId);
            var deadline = Task.Delay(timeout, _closing.Token);
            var acquired = false;
            try
            {
                if (!internalCall)
                {
                    var slot = _slots.WaitAsync();
                    if (await Task.WhenAny(slot, deadline).ConfigureAwait(false) != slot) throw Timeout(method, timeout);
                    acquired = true;
                    Task<bool> ready;
                    lock (_gate) ready = _ready.Task;
                    if (_closed && !ready.IsCompleted) throw _fatal ?? new ClientClosedException();
                    if (await Task.WhenAny(ready, deadline).ConfigureAwait(false) != ready) throw Timeout(method, timeout);
                    await ready.ConfigureAwait(false); // throws when the client was closed
                    if (_closed) throw _fatal ?? new ClientClosedException();
                }
                var ws = _ws;
                if (ws == null || ws.State != WebSocketState.Open) throw new ConnectionLostException("not connected");
                var tcs = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
                _pending[id] = tcs;
                var message = new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "id", id }, { "method", method } };
                if (parameters != null) message["params"] = parameters;
                var bytes = Encoding.UTF8.GetBytes(Json.Serialize(message));
                await _sendLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is InvalidOperationException)
                {
                    throw new ConnectionLostException("the connection closed");
                }
                finally { _sendLock.Release(); }
                if (await Task.WhenAny(tcs.Task, deadline).ConfigureAwait(false) != tcs.Task)
                {
                    if (_closed) throw new ClientClosedException();
                    throw Timeout(method, timeout);
                }
                return await tcs.Task.ConfigureAwait(false);
            }
            finally
            {
                TaskCompletionSource<object> gone;
                _pending.TryRemove(id, out gone);
                if (acquired) _slots.Release();
            }
        }

        static RequestTimeoutException Timeout(string method, TimeSpan timeout)
        {
            return new RequestTimeoutException(method + ": no answer within " + timeout.TotalMilliseconds + " ms");
        }

        /// <summary>Call a method: its result (Dictionary/List/string/long/double/bool/null), or
        /// a typed RpcException.</summary>
        public Task<object> CallAsync(string method, object parameters = null, TimeSpan? timeout = null)
        {
            return RequestAsync(method, parameters, timeout ?? _o.RequestTimeout, null, false);
        }

        public async Task<Dictionary<string, object>> CallObjectAsync(string method, object parameters = null, TimeSpan? timeout = null)
        {
            return await CallAsync(method, parameters, timeout).ConfigureAwait(false) as Dictionary<string, object>;
        }

        // --- conversation ----------------------------------------------------------------

        /// <summary>Make the persona (id or slug) active; kept across reconnects.</summary>
        public async Task<Dictionary<string, object>> SwitchAsync(string persona)
        {
            var result = await CallObjectAsync("persona.switch", P("persona_id", persona)).ConfigureAwait(false);
            ActivePersona = persona;
            return result;
        }

        /// <summary>One turn. <paramref name="options"/> are more params of conversation.send_message
        /// (persona_id, sender, context, actions_available, position...).</summary>
        public async Task<TurnResult> SendAsync(string content, Dictionary<string, object> options = null, TimeSpan? timeout = null)
        {
            var p = Merge(options, "content", content);
            var result = await CallObjectAsync("conversation.send_message", p, timeout).ConfigureAwait(false);
            return new TurnResult(result);
        }

        /// <summary>A streaming turn: <c>OnDelta</c> fires per delta, <c>Result</c> completes with
        /// the turn. On a timeout the client also cancels it.</summary>
        public TurnStream Stream(string content, Dictionary<string, object> options = null, Action<string, int> onDelta = null, TimeSpan? timeout = null)
        {
            var id = Interlocked.Increment(ref _nextId);
            var stream = new TurnStream(this, id, onDelta);
            _streams[id] = stream;
            var p = Merge(options, "content", content);
            p["stream"] = true;
            stream.Result = RunStream(id, p, timeout ?? _o.RequestTimeout);
            return stream;
        }

        async Task<TurnResult> RunStream(long id, Dictionary<string, object> p, TimeSpan span)
        {
            try
            {
                var result = await RequestAsync("conversation.send_message", p, span, id, false).ConfigureAwait(false);
                return new TurnResult(result as Dictionary<string, object>);
            }
            catch (RequestTimeoutException)
            {
                Forget(CancelAsync(id, TimeSpan.FromSeconds(5)));
                throw;
            }
            finally
            {
                TurnStream gone;
                _streams.TryRemove(id, out gone);
            }
        }

        static void Forget(Task task)
        {
            task.ContinueWith(t => { var ignored = t.Exception; }, TaskContinuationOptions.OnlyOnFaulted);
        }

        /// <summary>Cancel a streaming request by its id; true when it was still running.</summary>
        public async Task<bool> CancelAsync(long requestId, TimeSpan? timeout = null)
        {
            var result = await CallObjectAsync("conversation.cancel", P("request_id", requestId), timeout).ConfigureAwait(false);
            return result != null && Get(result, "cancelled") is bool && (bool)Get(result, "cancelled");
        }

        // --- events ----------------------------------------------------------------------

        List<string> AllTopics()
        {
            lock (_subs) return _subs.SelectMany(s => s.Topics).Distinct().OrderBy(t => t, StringComparer.Ordinal).ToList();
        }

        /// <summary>Call <paramref name="handler"/> for each event on these topics; kept across reconnects.</summary>
        public async Task<Subscription> SubscribeAsync(string[] topics, Action<PersonaEvent> handler)
        {
            var sub = new Subscription(this, topics, handler);
            lock (_subs) _subs.Add(sub);
            try
            {
                await CallAsync("events.subscribe", P("topics", topics.ToList())).ConfigureAwait(false);
            }
            catch
            {
                lock (_subs) _subs.Remove(sub);
                throw;
            }
            return sub;
        }

        public async Task UnsubscribeAsync(Subscription sub)
        {
            lock (_subs) _subs.Remove(sub);
            var still = AllTopics();
            var gone = sub.Topics.Where(t => !still.Contains(t)).ToList();
            if (gone.Count > 0) await CallAsync("events.unsubscribe", P("topics", gone)).ConfigureAwait(false);
        }

        // --- lifecycle -------------------------------------------------------------------

        /// <summary>Close the socket; waiting requests fail with ClientClosedException.</summary>
        public async Task CloseAsync()
        {
            if (_closed && _supervisor == null) return;
            _closed = true;
            _closing.Cancel();
            var ws = _ws;
            if (ws != null && ws.State == WebSocketState.Open)
            {
                try
                {
                    using (var t = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client closed", t.Token).ConfigureAwait(false);
                }
                catch (Exception) { ws.Abort(); }
            }
            var supervisor = _supervisor;
            _supervisor = null;
            if (supervisor != null && await Task.WhenAny(supervisor, Task.Delay(3000)).ConfigureAwait(false) != supervisor)
                ws?.Abort();
            FailPending(new ClientClosedException());
            _ready.TrySetException(new ClientClosedException());
        }

        public void Dispose() { CloseAsync().Wait(5000); }

        // --- thin typed wrappers ---------------------------------------------------------

        public Task<Dictionary<string, object>> PingAsync() { return CallObjectAsync("system.ping"); }
        public Task<Dictionary<string, object>> SessionInfoAsync() { return CallObjectAsync("session.info"); }
        public Task<Dictionary<string, object>> PersonaGetAsync(string personaId) { return CallObjectAsync("persona.get", P("persona_id", personaId)); }
        public Task<Dictionary<string, object>> PersonaCreateAsync(string name, Dictionary<string, object> fields = null) { return CallObjectAsync("persona.create", Merge(fields, "name", name)); }
        public Task<Dictionary<string, object>> PersonaUpdateAsync(string personaId, Dictionary<string, object> fields) { return CallObjectAsync("persona.update", Merge(fields, "persona_id", personaId)); }
        public Task<Dictionary<string, object>> HistoryAsync(string conversationId) { return CallObjectAsync("conversation.history", P("conversation_id", conversationId)); }

        // v1.1: game worlds
        public Task<Dictionary<string, object>> WorldEventAsync(string type, string description, Dictionary<string, object> options = null)
        {
            var p = Merge(options, "type", type);
            p["description"] = description;
            return CallObjectAsync("world.event", p);
        }
        public Task<Dictionary<string, object>> SceneMoveAsync(string roomId, string entityId, double x, double y, double z = 0)
        {
            var p = P("room_id", roomId);
            p["entity_id"] = entityId;
            p["position"] = new Dictionary<string, object> { { "x", x }, { "y", y }, { "z", z } };
            return CallObjectAsync("scene.move", p);
        }
        public Task<Dictionary<string, object>> TriggerCreateAsync(string personaId, string name, Dictionary<string, object> when, Dictionary<string, object> then, bool? once = null)
        {
            var p = P("persona_id", personaId);
            p["name"] = name; p["when"] = when; p["then"] = then;
            if (once.HasValue) p["once"] = once.Value;
            return CallObjectAsync("trigger.create", p);
        }
        public Task<Dictionary<string, object>> TriggerListAsync(string personaId = null) { return CallObjectAsync("trigger.list", personaId == null ? new Dictionary<string, object>() : P("persona_id", personaId)); }
        public Task<Dictionary<string, object>> TriggerDeleteAsync(string triggerId) { return CallObjectAsync("trigger.delete", P("trigger_id", triggerId)); }
        public Task<Dictionary<string, object>> GoalSetAsync(string personaId, object goal) { var p = P("persona_id", personaId); p["goal"] = goal; return CallObjectAsync("goal.set", p); }
        public Task<Dictionary<string, object>> GoalListAsync(string personaId) { return CallObjectAsync("goal.list", P("persona_id", personaId)); }
        public Task<Dictionary<string, object>> GoalCompleteAsync(string personaId, object goal) { var p = P("persona_id", personaId); p["goal"] = goal; return CallObjectAsync("goal.complete", p); }

        // v1.1: lorebooks
        public Task<Dictionary<string, object>> LorebookListAsync(string personaId = null, string roomId = null)
        {
            var p = new Dictionary<string, object>();
            if (personaId != null) p["persona_id"] = personaId;
            if (roomId != null) p["room_id"] = roomId;
            return CallObjectAsync("lorebook.list", p);
        }
        public Task<Dictionary<string, object>> LorebookGetAsync(string lorebookId) { return CallObjectAsync("lorebook.get", P("lorebook_id", lorebookId)); }
        public Task<Dictionary<string, object>> LorebookCreateAsync(string name, List<object> entries, Dictionary<string, object> options = null) { var p = Merge(options, "name", name); p["entries"] = entries; return CallObjectAsync("lorebook.create", p); }
        public Task<Dictionary<string, object>> LorebookUpdateAsync(string lorebookId, Dictionary<string, object> fields) { return CallObjectAsync("lorebook.update", Merge(fields, "lorebook_id", lorebookId)); }
        public Task<Dictionary<string, object>> LorebookDeleteAsync(string lorebookId) { return CallObjectAsync("lorebook.delete", P("lorebook_id", lorebookId)); }
        public Task<Dictionary<string, object>> LorebookAttachAsync(string lorebookId, string personaId = null, string roomId = null) { return CallObjectAsync("lorebook.attach", Target(lorebookId, personaId, roomId)); }
        public Task<Dictionary<string, object>> LorebookDetachAsync(string lorebookId, string personaId = null, string roomId = null) { return CallObjectAsync("lorebook.detach", Target(lorebookId, personaId, roomId)); }
        public Task<Dictionary<string, object>> LorebookImportAsync(Dictionary<string, object> data, string name = null) { var p = P("data", data); if (name != null) p["name"] = name; return CallObjectAsync("lorebook.import", p); }
        public Task<Dictionary<string, object>> LorebookExportAsync(string lorebookId, string format = null) { var p = P("lorebook_id", lorebookId); if (format != null) p["format"] = format; return CallObjectAsync("lorebook.export", p); }

        static Dictionary<string, object> Target(string lorebookId, string personaId, string roomId)
        {
            var p = P("lorebook_id", lorebookId);
            if (personaId != null) p["persona_id"] = personaId;
            if (roomId != null) p["room_id"] = roomId;
            return p;
        }

        static Dictionary<string, object> P(string key, object value)
        {
            return new Dictionary<string, object> { { key, value } };
        }

        static Dictionary<string, object> Merge(Dictionary<string, object> options, string key, object value)
        {
            var p = options == null ? new Dictionary<string, object>() : new Dictionary<string, object>(options);
            p[key] = value;
            return p;
        }
    }
}
