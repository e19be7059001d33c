// Typed errors: one class per JSON-RPC error code of the Persona-MCP protocol.
using System;
using System.Collections.Generic;

namespace PersonaMCP
{
    public class PersonaMCPException : Exception
    {
        public PersonaMCPException(string message) : base(message) { }
    }

    /// <summary>The socket closed while the request waited; the client reconnects by itself.</summary>
    public class ConnectionLostException : PersonaMCPException
    {
        public ConnectionLostException(string message) : base(message) { }
    }

    public class ClientClosedException : PersonaMCPException
    {
        public ClientClosedException() : base("client closed") { }
    }

    public class RequestTimeoutException : PersonaMCPException
    {
        public RequestTimeoutException(string message) : base(message) { }
    }

    /// <summary>An error response: <c>Code</c>, <c>RpcMessage</c> and <c>Data</c> as sent.</summary>
    public class RpcException : PersonaMCPException
    {
        public int Code { get; private set; }
        public string RpcMessage { get; private set; }
        public new object Data { get; private set; }

        public RpcException(int code, string message, object data)
            : base(message + " (" + code + ")")
        {
            Code = code;
            RpcMessage = message;
            Data = data;
        }

        /// <summary>data.errors of an invalid-params error: each bad field.</summary>
        public IList<string> Fields
        {
            get
            {
                var fields = new List<string>();
                var data = Data as Dictionary<string, object>;
                object errors;
                if (data != null && data.TryGetValue("errors", out errors) && errors is List<object>)
                    foreach (var e in (List<object>)errors)
                    {
                        var d = e as Dictionary<string, object>;
                        object f;
                        if (d != null && d.TryGetValue("field", out f)) fields.Add(Convert.ToString(f));
                    }
                return fields;
            }
        }

        public static RpcException From(object error)
        {
            var e = error as Dictionary<string, object> ?? new Dictionary<string, object>();
            object code, message, data;
            e.TryGetValue("code", out code);
            e.TryGetValue("message", out message);
            e.TryGetValue("data", out data);
            var c = code is long ? (int)(long)code : 0;
            var m = message as string ?? "error";
            switch (c)
            {
                case ErrorCodes.InvalidParams: return new InvalidParamsException(c, m, data);
                case ErrorCodes.MethodNotFound: return new MethodNotFoundException(c, m, data);
                case ErrorCodes.PersonaNotFound: return new PersonaNotFoundException(c, m, data);
                case ErrorCodes.NoActivePersona: return new NoActivePersonaException(c, m, data);
                case ErrorCodes.Unauthenticated: return new UnauthenticatedException(c, m, data);
                case ErrorCodes.Forbidden: return new ForbiddenException(c, m, data);
                case ErrorCodes.RateLimited: return new RateLimitedException(c, m, data);
                case ErrorCodes.Busy: return new BusyException(c, m, data);
                case ErrorCodes.Cancelled: return new CancelledException(c, m, data);
                default: return new RpcException(c, m, data);
            }
        }
    }

    public static class ErrorCodes
    {
        public const int ParseError = -32700, InvalidRequest = -32600, MethodNotFound = -32601,
            InvalidParams = -32602, InternalError = -32603, PersonaNotFound = -32001,
            NoActivePersona = -32002, ConversationNotFound = -32003, MemoryNotFound = -32004,
            RoomNotFound = -32005, BotNotFound = -32006, LLMUnavailable = -32010,
            LLMTimeout = -32011, Unauthenticated = -32020, Forbidden = -32021,
            RateLimited = -32029, Busy = -32030, Cancelled = -32031, Conflict = -32040;
    }

    public class InvalidParamsException : RpcException { public InvalidParamsException(int c, string m, object d) : base(c, m, d) { } }
    public class MethodNotFoundException : RpcException { public MethodNotFoundException(int c, string m, object d) : base(c, m, d) { } }
    public class PersonaNotFoundException : RpcException { public PersonaNotFoundException(int c, string m, object d) : base(c, m, d) { } }
    public class NoActivePersonaException : RpcException { public NoActivePersonaException(int c, string m, object d) : base(c, m, d) { } }
    public class UnauthenticatedException : RpcException { public UnauthenticatedException(int c, string m, object d) : base(c, m, d) { } }
    public class ForbiddenException : RpcException { public ForbiddenException(int c, string m, object d) : base(c, m, d) { } }
    public class RateLimitedException : RpcException { public RateLimitedException(int c, string m, object d) : base(c, m, d) { } }
    public class BusyException : RpcException { public BusyException(int c, string m, object d) : base(c, m, d) { } }
    public class CancelledException : RpcException { public CancelledException(int c, string m, object d) : base(c, m, d) { } }
}
