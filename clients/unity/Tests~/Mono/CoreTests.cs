// The Unity package's core (and its glue, on the UnityEngine stub) against the live server and a
// misbehaving one, run with Mono: `make test` (the server comes from scripts/test_clients.sh).
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using PersonaMCP;
using PersonaMCP.Unity;

static class CoreTests
{
    static readonly string Url = Env("PERSONAMCP_URL"), Key = Env("PERSONAMCP_KEY"),
        ReadKey = Env("PERSONAMCP_READ_KEY"), BadUrl = Env("PERSONAMCP_BAD_URL"),
        Control = Env("PERSONAMCP_CONTROL"), Reply = Env("PERSONAMCP_REPLY");

    static string Env(string name)
    {
        var v = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(v)) throw new InvalidOperationException(name + " is not set: run scripts/test_clients.sh unity");
        return v;
    }

    static void Check(bool condition, string what) { if (!condition) throw new Exception("check failed: " + what); }
    static void Equal(object expected, object actual, string what)
    {
        if (!Equals(expected, actual)) throw new Exception(what + ": expected <" + expected + "> got <" + actual + ">");
    }

    static async Task<T> Throws<T>(Func<Task> action) where T : Exception
    {
        try { await action(); }
        catch (T e) { return e; }
        catch (Exception e) { throw new Exception("expected " + typeof(T).Name + ", got " + e.GetType().Name + ": " + e.Message); }
        throw new Exception("expected " + typeof(T).Name + ", nothing was thrown");
    }

    static readonly List<string> Quiet = new List<string>();
    static PersonaClientOptions Opts(string key = null)
    {
        return new PersonaClientOptions { ApiKey = key ?? Key, Log = m => { lock (Quiet) Quiet.Add(m); } };
    }

    static Dictionary<string, object> D(params object[] kv)
    {
        var d = new Dictionary<string, object>();
        for (var i = 0; i < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
        return d;
    }

    static async Task CallReturnsResultAndScopes()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            Equal("alice", (await c.PersonaGetAsync("alice"))["slug"], "slug");
            Equal("read,write", string.Join(",", c.Scopes), "scopes");
        }
    }

    static async Task UnknownPersonaIsTyped()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var e = await Throws<PersonaNotFoundException>(() => c.PersonaGetAsync("nobody-here"));
            Equal(-32001, e.Code, "code");
        }
    }

    static async Task UnknownParamListsTheField()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var e = await Throws<InvalidParamsException>(() => c.CallAsync("persona.get", D("persona_id", "alice", "colour", "red")));
            Equal("colour", string.Join(",", e.Fields), "fields");
        }
    }

    static async Task KeyWithoutScopeIsForbidden()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts(ReadKey)))
        {
            Equal("rook", (await c.PersonaGetAsync("rook"))["slug"], "read works");
            var e = await Throws<ForbiddenException>(() => c.PersonaCreateAsync("Should Not Exist"));
            Equal(-32021, e.Code, "code");
        }
    }

    static async Task RefusedKeyFailsConnect()
    {
        var o = Opts("pmcp_bad");
        o.Reconnect = false;
        await Throws<UnauthenticatedException>(() => PersonaClient.ConnectAsync(Url, o));
    }

    static async Task SendReturnsTheTurn()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var r = await c.SendAsync("Hello there!", D("persona_id", "alice", "sender", "cs-send"));
            Equal(Reply, r.Response, "response");
            Check(r.MessageId > 0 && r.ConversationId != null, "ids");
        }
    }

    static async Task StreamDeliversDeltasThenResult()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            await c.SwitchAsync("rook");
            var deltas = new List<string>();
            var s = c.Stream("Tell me about the road", D("sender", "cs-stream"), (d, i) => { lock (deltas) deltas.Add(d); });
            var r = await s.Result;
            Check(deltas.Count > 3, "several deltas");
            Equal(r.Response, string.Concat(deltas), "assembled by callback");
            Equal(Reply, s.Text, "assembled text");
            Equal(r.ConversationId, s.ConversationId, "conversation id");
        }
    }

    static async Task ConcurrentRequestsAreMatched()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var s = c.Stream("A long story", D("persona_id", "elias", "sender", "cs-conc"));
            var names = new[] { "alice", "rook", "elias", "pip" }.SelectMany(n => new[] { n, n, n }).ToArray();
            var got = await Task.WhenAll(names.Select(n => c.PersonaGetAsync(n)));
            Equal(string.Join(",", names), string.Join(",", got.Select(p => p["slug"])), "slugs");
            Check(!s.Result.IsCompleted, "reads did not wait for the turn");
            Check((await s.Result).Response.Length > 0, "turn done");
        }
    }

    static async Task CancelEndsTheStream()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var first = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var s = c.Stream("Talk for a while", D("persona_id", "alice", "sender", "cs-cancel"), (d, i) => first.TrySetResult(d));
            var delta = await first.Task;
            Check(await s.CancelAsync(), "cancelled while running");
            var e = await Throws<CancelledException>(() => s.Result);
            Equal(-32031, e.Code, "code");
            var history = await c.HistoryAsync(s.ConversationId);
            var last = (Dictionary<string, object>)((List<object>)history["messages"]).Last();
            Equal("cancelled", last["status"], "status");
            Check(((string)last["content"]).StartsWith(delta.Trim()), "partial reply kept");
        }
    }

    static async Task SubscribeDeliversEvents()
    {
        using (var c = await PersonaClient.ConnectAsync(Url, Opts()))
        using (var other = await PersonaClient.ConnectAsync(Url, Opts()))
        {
            var seen = new TaskCompletionSource<PersonaEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            var sub = await c.SubscribeAsync(new[] { "persona.pip" }, ev => seen.TrySetResult(ev));
            await other.PersonaUpdateAsync("pip", D("description", "seen by C# " + DateTime.UtcNow.Ticks));
            Check(await Task.WhenAny(seen.Task, Task.Delay(10000)) == seen.Task, "an event arrived");
            Equal("persona.updated", seen.Task.Result.Type, "type");
            Equal("pip", seen.Task.Result.Data["slug"], "slug");
            await sub.UnsubscribeAsync();
            Equal(0, ((List<object>)(await c.SessionInfoAsync())["subscriptions"]).Count, "no subscriptions left");
        }
    }

    static async Task ReconnectsAfterRestart()
    {
        var o = Opts();
        o.BackoffInitial = TimeSpan.FromMilliseconds(50);
        o.BackoffMax = TimeSpan.FromMilliseconds(500);
        using (var c = await PersonaClient.ConnectAsync(Url, o))
        {
            await c.SwitchAsync("elias");
            var seen = new TaskCompletionSource<PersonaEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            await c.SubscribeAsync(new[] { "persona.*" }, ev => seen.TrySetResult(ev));
            Equal(1, c.Connects, "connects");
            using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(120) })
            {
                var response = await http.PostAsync(Control + "/restart", new StringContent(""));
                Check(response.IsSuccessStatusCode, "restarted");
            }
            var info = await c.SessionInfoAsync(); // waits while the client reconnects
            Equal(2, c.Connects, "connects after the restart");
            Equal(true, info["authenticated"], "authenticated again");
            Equal("persona.*", string.Join(",", (List<object>)info["subscriptions"]), "subscribed again");
            Equal("elias", ((Dictionary<string, object>)info["active_persona"])["slug"], "switched again");
            Check((await c.SendAsync("Are you back?", D("sender", "cs-reconnect"))).Response.Length > 0, "turn after restart");
            await c.PersonaUpdateAsync("elias", D("description", "after the restart (C#) " + DateTime.UtcNow.Ticks));
            Check(await Task.WhenAny(seen.Task, Task.Delay(10000)) == seen.Task, "an event after the restart");
        }
    }

    static async Task TimeoutThenStillUsable()
    {
        using (var bad = await PersonaClient.ConnectAsync(BadUrl, Opts("")))
        {
            await Throws<RequestTimeoutException>(() => bad.CallAsync("silent", null, TimeSpan.FromMilliseconds(300)));
            var echo = await bad.CallObjectAsync("echo", D("x", 1));
            Equal(1L, ((Dictionary<string, object>)echo["params"])["x"], "echo");
        }
    }

    static async Task BadFramesAreLoggedAndIgnored()
    {
        var log = new List<string>();
        var o = new PersonaClientOptions { Log = m => { lock (log) log.Add(m); } };
        using (var bad = await PersonaClient.ConnectAsync(BadUrl, o))
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 5).Select(n => bad.CallObjectAsync("echo", D("n", n))));
            Equal("0,1,2,3,4", string.Join(",", answers.Select(a => ((Dictionary<string, object>)a["params"])["n"])), "answers");
            var e = await Throws<RpcException>(() => bad.CallAsync("fail"));
            Equal(-32099, e.Code, "code");
            Equal(7L, ((Dictionary<string, object>)e.Data)["n"], "data");
        }
        string text;
        lock (log) text = string.Join("\n", log);
        foreach (var part in new[] { "not JSON", "binary frame", "unknown id", "neither or both", "not a message" })
            Check(text.Contains(part), "a warning about " + part);
    }

    static async Task V11WrappersSendTheDocumentedShape()
    {
        using (var bad = await PersonaClient.ConnectAsync(BadUrl, Opts("")))
        {
            var cases = new List<Tuple<Task<Dictionary<string, object>>, string, string>>
            {
                Tuple.Create(bad.WorldEventAsync("gift", "a rose", D("persona_id", "alice")), "world.event",
                    "{\"persona_id\":\"alice\",\"type\":\"gift\",\"description\":\"a rose\"}"),
                Tuple.Create(bad.SceneMoveAsync("r1", "alice", 1, 2, 0), "scene.move",
                    "{\"room_id\":\"r1\",\"entity_id\":\"alice\",\"position\":{\"x\":1,\"y\":2,\"z\":0}}"),
                Tuple.Create(bad.TriggerCreateAsync("alice", "greet", D("event_type", "arrive"), D("say", "hi"), true), "trigger.create",
                    "{\"persona_id\":\"alice\",\"name\":\"greet\",\"when\":{\"event_type\":\"arrive\"},\"then\":{\"say\":\"hi\"},\"once\":true}"),
                Tuple.Create(bad.TriggerListAsync("alice"), "trigger.list", "{\"persona_id\":\"alice\"}"),
                Tuple.Create(bad.TriggerDeleteAsync("t1"), "trigger.delete", "{\"trigger_id\":\"t1\"}"),
                Tuple.Create(bad.GoalSetAsync("alice", "find the key"), "goal.set", "{\"persona_id\":\"alice\",\"goal\":\"find the key\"}"),
                Tuple.Create(bad.GoalListAsync("alice"), "goal.list", "{\"persona_id\":\"alice\"}"),
                Tuple.Create(bad.GoalCompleteAsync("alice", "g1"), "goal.complete", "{\"persona_id\":\"alice\",\"goal\":\"g1\"}"),
                Tuple.Create(bad.LorebookListAsync("alice"), "lorebook.list", "{\"persona_id\":\"alice\"}"),
                Tuple.Create(bad.LorebookAttachAsync("l1", null, "r1"), "lorebook.attach", "{\"lorebook_id\":\"l1\",\"room_id\":\"r1\"}"),
                Tuple.Create(bad.LorebookExportAsync("l1", "character_book"), "lorebook.export", "{\"lorebook_id\":\"l1\",\"format\":\"character_book\"}"),
            };
            foreach (var c in cases)
            {
                var r = await c.Item1;
                Equal(c.Item2, r["method"], "method");
                Equal(c.Item3, Json.Serialize(r["params"]), c.Item2 + " params");
            }
        }
    }

    static async Task CloseFailsWaitingRequests()
    {
        var bad = await PersonaClient.ConnectAsync(BadUrl, Opts(""));
        var waiting = bad.CallAsync("silent", null, TimeSpan.FromSeconds(30));
        await bad.CloseAsync();
        var e = await Throws<PersonaMCPException>(() => waiting);
        Check(e is ClientClosedException || e is ConnectionLostException, "closed: " + e.GetType().Name);
        await Throws<ClientClosedException>(() => bad.PingAsync());
    }

    static Task BackoffGrowsWithJitter()
    {
        var random = new Random(1);
        foreach (var c in new[] { Tuple.Create(0, 200.0), Tuple.Create(1, 400.0), Tuple.Create(3, 1600.0), Tuple.Create(10, 5000.0) })
        {
            var delays = Enumerable.Range(0, 50).Select(_ => PersonaClient.BackoffDelay(c.Item1, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), random).TotalMilliseconds).ToList();
            Check(delays.All(d => d >= c.Item2 / 2 && d <= c.Item2), "within [d/2, d] at attempt " + c.Item1);
            Check(delays.Distinct().Count() > 1, "jitter");
        }
        return Task.FromResult(0);
    }

    static Task JsonRoundTrips()
    {
        var text = "{\"a\":[1,2.5,-3e2,true,false,null],\"s\":\"q\\\"\\\\\\n\\u00e9\",\"o\":{}}";
        var parsed = (Dictionary<string, object>)Json.Parse(text);
        Equal(-300.0, ((List<object>)parsed["a"])[2], "exponent");
        Equal("q\"\\\n\u00e9", parsed["s"], "escapes");
        Equal("{\"a\":[1,2.5,-300,true,false,null],\"s\":\"q\\\"\\\\\\n\u00e9\",\"o\":{}}", Json.Serialize(parsed), "serialize");
        foreach (var bad in new[] { "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2" })
        {
            try { Json.Parse(bad); throw new Exception("parsed " + bad); }
            catch (JsonException) { }
        }
        return Task.FromResult(0);
    }

    static Task TopicPatterns()
    {
        var ev = new PersonaEvent { Topic = "persona.42", Data = D("id", 42L, "slug", "al") };
        foreach (var p in new[] { "persona.*", "*", "persona.al", "persona.42" }) Check(PersonaClient.TopicMatches(p, ev), p);
        foreach (var p in new[] { "persona.bob", "room.*" }) Check(!PersonaClient.TopicMatches(p, ev), p);
        return Task.FromResult(0);
    }

    // The glue on the UnityEngine stub: events fire on the thread that runs Update.
    static Task PersonaNpcDeliversOnTheMainThread()
    {
        var npc = new PersonaNpc();
        foreach (var f in new[] { Tuple.Create("serverUrl", Url), Tuple.Create("apiKey", Key), Tuple.Create("persona", "pip"), Tuple.Create("playerId", "cs-npc") })
            typeof(PersonaNpc).GetField(f.Item1, BindingFlags.NonPublic | BindingFlags.Instance).SetValue(npc, f.Item2);
        var mainThread = Thread.CurrentThread.ManagedThreadId;
        var threads = new HashSet<int>();
        var chunks = new List<string>();
        string reply = null, expression = null;
        npc.onChunk.AddListener(d => { threads.Add(Thread.CurrentThread.ManagedThreadId); chunks.Add(d); });
        npc.onReply.AddListener(r => { threads.Add(Thread.CurrentThread.ManagedThreadId); reply = r; });
        npc.onExpression.AddListener(e => expression = e);
        npc.onError.AddListener(e => { throw new Exception("onError: " + e); });
        Invoke(npc, "Awake");
        npc.Say("Hello, NPC");
        var frames = 0;
        while (reply == null && frames++ < 3000) { Invoke(npc, "Update"); Thread.Sleep(10); } // ~60 fps frames, 30 s at most
        Invoke(npc, "OnDestroy");
        Equal(Reply, reply, "reply event");
        Equal(reply, string.Concat(chunks), "chunk events");
        Check(expression != null, "expression event");
        Equal(mainThread.ToString(), string.Join(",", threads), "all events on the main thread");
        return Task.FromResult(0);
    }

    static void Invoke(object target, string method)
    {
        target.GetType().GetMethod(method, BindingFlags.NonPublic | BindingFlags.Instance).Invoke(target, null);
    }

    static int Main()
    {
        var tests = new List<Tuple<string, Func<Task>>>
        {
            Tuple.Create("call returns the result and the key's scopes", (Func<Task>)CallReturnsResultAndScopes),
            Tuple.Create("an unknown persona throws PersonaNotFoundException (-32001)", (Func<Task>)UnknownPersonaIsTyped),
            Tuple.Create("an unknown param throws InvalidParamsException listing the field", (Func<Task>)UnknownParamListsTheField),
            Tuple.Create("a key without the scope is forbidden (-32021)", (Func<Task>)KeyWithoutScopeIsForbidden),
            Tuple.Create("a refused key fails connect", (Func<Task>)RefusedKeyFailsConnect),
            Tuple.Create("send returns the turn result", (Func<Task>)SendReturnsTheTurn),
            Tuple.Create("stream delivers the deltas, then the result", (Func<Task>)StreamDeliversDeltasThenResult),
            Tuple.Create("concurrent requests on one socket are matched by id", (Func<Task>)ConcurrentRequestsAreMatched),
            Tuple.Create("cancel ends the stream with CancelledException, partial reply kept", (Func<Task>)CancelEndsTheStream),
            Tuple.Create("subscribe delivers events; unsubscribe stops them", (Func<Task>)SubscribeDeliversEvents),
            Tuple.Create("reconnects after a server restart and restores the session", (Func<Task>)ReconnectsAfterRestart),
            Tuple.Create("a request timeout throws; the client stays usable", (Func<Task>)TimeoutThenStillUsable),
            Tuple.Create("bad frames and unknown ids are logged and ignored", (Func<Task>)BadFramesAreLoggedAndIgnored),
            Tuple.Create("the v1.1 wrappers send the documented methods and params", (Func<Task>)V11WrappersSendTheDocumentedShape),
            Tuple.Create("close fails waiting requests with ClientClosedException", (Func<Task>)CloseFailsWaitingRequests),
            Tuple.Create("backoff grows with jitter up to the maximum", (Func<Task>)BackoffGrowsWithJitter),
            Tuple.Create("JSON reads and writes the protocol's values; rejects bad text", (Func<Task>)JsonRoundTrips),
            Tuple.Create("topic patterns match by wildcard, id or slug", (Func<Task>)TopicPatterns),
            Tuple.Create("PersonaNpc (glue, on the stub) fires its events on the main thread", (Func<Task>)PersonaNpcDeliversOnTheMainThread),
        };
        var failed = 0;
        for (var i = 0; i < tests.Count; i++)
        {
            try
            {
                if (!tests[i].Item2().Wait(TimeSpan.FromSeconds(90))) throw new TimeoutException("test took over 90 s");
                Console.WriteLine("ok " + (i + 1) + " - " + tests[i].Item1);
            }
            catch (Exception e)
            {
                failed++;
                var inner = e is AggregateException ? ((AggregateException)e).InnerException : e;
                Console.WriteLine("not ok " + (i + 1) + " - " + tests[i].Item1 + "\n  " + inner);
            }
        }
        Console.WriteLine((tests.Count - failed) + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
