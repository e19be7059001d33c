// Unity glue: a MonoBehaviour that talks as one persona. Server, persona and key are set in the
// Inspector; replies, streamed chunks, expressions and actions arrive as UnityEvents on the main
// thread (the core calls back on its receive thread; this component queues the callbacks and
// runs them in Update).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading.Tasks;
using UnityEngine;
using UnityEngine.Events;

namespace PersonaMCP.Unity
{
    [Serializable] public class PersonaTextEvent : UnityEvent<string> { }
    /// <summary>An action the persona chose: name and its arguments as JSON.</summary>
    [Serializable] public class PersonaActionEvent : UnityEvent<string, string> { }

    public class PersonaNpc : MonoBehaviour
    {
        [Header("Server")]
        [SerializeField] string serverUrl = "ws://127.0.0.1:8000/mcp";
        [Tooltip("API key with the write scope (leave empty in local-development mode)")]
        [SerializeField] string apiKey = "";
        [Header("Persona")]
        [SerializeField] string persona = "alice";
        [Tooltip("Participant id of the player talking to this NPC")]
        [SerializeField] string playerId = "player";
        [SerializeField] bool streamReplies = true;
        [Tooltip("At most this many queued callbacks; chunks beyond it are dropped (the reply event still carries the whole text)")]
        [SerializeField] int maxQueuedCallbacks = 4096;

        [Header("Events (main thread)")]
        public PersonaTextEvent onReply = new PersonaTextEvent();
        public PersonaTextEvent onChunk = new PersonaTextEvent();
        public PersonaTextEvent onExpression = new PersonaTextEvent();
        public PersonaActionEvent onAction = new PersonaActionEvent();
        public PersonaTextEvent onError = new PersonaTextEvent();

        readonly ConcurrentQueue<Action> _mainThread = new ConcurrentQueue<Action>();
        PersonaClient _client;
        Task<PersonaClient> _connecting;
        TurnStream _current;

        public PersonaClient Client { get { return _client; } }

        void Awake()
        {
            _connecting = Connect();
        }

        async Task<PersonaClient> Connect()
        {
            var options = new PersonaClientOptions { ApiKey = string.IsNullOrEmpty(apiKey) ? null : apiKey, Log = m => Post(() => Debug.LogWarning("PersonaMCP: " + m)) };
            var client = await PersonaClient.ConnectAsync(serverUrl, options);
            await client.SwitchAsync(persona);
            _client = client;
            return client;
        }

        /// <summary>Say something to the persona; the reply arrives through the events.</summary>
        public async void Say(string text, Dictionary<string, object> context = null)
        {
            try
            {
                var client = await _connecting;
                var options = new Dictionary<string, object> { { "persona_id", persona }, { "sender", playerId } };
                if (context != null) options["context"] = context;
                TurnResult result;
                if (streamReplies)
                {
                    _current = client.Stream(text, options, (delta, index) => Post(() => onChunk.Invoke(delta), true));
                    result = await _current.Result;
                }
                else
                {
                    result = await client.SendAsync(text, options);
                }
                Post(() => Deliver(result));
            }
            catch (Exception e)
            {
                Post(() => onError.Invoke(e.Message));
            }
        }

        /// <summary>Stop the reply being streamed, if any.</summary>
        public async void StopTalking()
        {
            var current = _current;
            if (current == null) return;
            try { await current.CancelAsync(); }
            catch (Exception e) { Post(() => onError.Invoke(e.Message)); }
        }

        void Deliver(TurnResult result)
        {
            onReply.Invoke(result.Response);
            var expression = result.Expression;
            object emotion;
            if (expression != null && expression.TryGetValue("emotion", out emotion)) onExpression.Invoke(Convert.ToString(emotion));
            else if (result.Emotion != null) onExpression.Invoke(result.Emotion);
            foreach (var action in result.Actions) onAction.Invoke(action.Name, Json.Serialize(action.Arguments));
        }

        void Post(Action action, bool droppable = false)
        {
            if (droppable && _mainThread.Count >= maxQueuedCallbacks) return;
            _mainThread.Enqueue(action);
        }

        void Update()
        {
            Action action;
            var budget = 256; // callbacks per frame
            while (budget-- > 0 && _mainThread.TryDequeue(out action))
            {
                try { action(); }
                catch (Exception e) { Debug.LogException(e); }
            }
        }

        void OnDestroy()
        {
            var client = _client;
            _client = null;
            if (client != null) client.CloseAsync(); // finishes in the background
        }
    }
}
