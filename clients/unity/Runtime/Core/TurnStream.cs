// Streaming assembly and the typed turn result.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;

namespace PersonaMCP
{
    /// <summary>A streaming turn. <c>OnDelta(delta, index)</c> fires on the receive thread as
    /// each delta arrives; <c>Text</c> is the reply assembled in index order; <c>Result</c>
    /// completes with the turn (CancelledException after a cancel).</summary>
    public sealed class TurnStream
    {
        readonly PersonaClient _client;
        readonly SortedDictionary<long, string> _pieces = new SortedDictionary<long, string>();
        readonly Action<string, int> _onDelta;

        public long RequestId { get; private set; }
        public string ConversationId { get; private set; }
        public Task<TurnResult> Result { get; internal set; }

        internal TurnStream(PersonaClient client, long requestId, Action<string, int> onDelta)
        {
            _client = client;
            RequestId = requestId;
            _onDelta = onDelta;
        }

        public string Text
        {
            get { lock (_pieces) return string.Concat(_pieces.Values); }
        }

        public int Count
        {
            get { lock (_pieces) return _pieces.Count; }
        }

        internal void OnChunk(Dictionary<string, object> p, Action<string> log)
        {
            var index = PersonaClient.Get(p, "index");
            var delta = PersonaClient.Get(p, "delta") as string;
            if (!(index is long) || delta == null) { log("ignoring a malformed conversation.chunk"); return; }
            var cid = PersonaClient.Str(p, "conversation_id");
            if (cid != null) ConversationId = cid;
            lock (_pieces)
            {
                if (_pieces.ContainsKey((long)index)) return;
                _pieces[(long)index] = delta;
            }
            if (_onDelta == null) return;
            try { _onDelta(delta, (int)(long)index); }
            catch (Exception e) { log("an OnDelta handler failed: " + e); }
        }

        /// <summary>Ask the server to stop this reply; Result then fails with CancelledException.</summary>
        public Task<bool> CancelAsync() { return _client.CancelAsync(RequestId); }
    }

    public sealed class TurnAction
    {
        public string Name;
        public Dictionary<string, object> Arguments;
    }

    /// <summary>The result of conversation.send_message; <c>Raw</c> holds every field.</summary>
    public sealed class TurnResult
    {
        public readonly Dictionary<string, object> Raw;
        public string Response { get { return PersonaClient.Str(Raw, "response"); } }
        public string ConversationId { get { return PersonaClient.Str(Raw, "conversation_id"); } }
        public string PersonaId { get { return PersonaClient.Str(Raw, "persona_id"); } }
        public string Emotion { get { return PersonaClient.Str(Raw, "emotion"); } }
        public long MessageId { get { var v = PersonaClient.Get(Raw, "message_id"); return v is long ? (long)v : 0; } }
        /// <summary>v1.1: {emotion, intensity, gesture?} or null.</summary>
        public Dictionary<string, object> Expression { get { return PersonaClient.Get(Raw, "expression") as Dictionary<string, object>; } }
        /// <summary>v1.1: the offered actions the persona chose.</summary>
        public IList<TurnAction> Actions
        {
            get
            {
                var list = PersonaClient.Get(Raw, "actions") as List<object> ?? new List<object>();
                return list.OfType<Dictionary<string, object>>().Select(a => new TurnAction
                {
                    Name = PersonaClient.Str(a, "name"),
                    Arguments = PersonaClient.Get(a, "arguments") as Dictionary<string, object> ?? new Dictionary<string, object>(),
                }).ToList();
            }
        }

        public TurnResult(Dictionary<string, object> raw) { Raw = raw ?? new Dictionary<string, object>(); }
        public string ToJson() { return Json.Serialize(Raw); }
    }
}
