// The few UnityEngine types the glue uses, so that it compiles outside the engine (mcs). Not a
// reimplementation: just enough surface for the compiler to check the glue's calls.
using System;
using System.Collections.Generic;

namespace UnityEngine
{
    public class Object { public string name; }
    public class Component : Object { public GameObject gameObject { get { return null; } } }
    public class Behaviour : Component { public bool enabled = true; }
    public class MonoBehaviour : Behaviour { }
    public class GameObject : Object { public T GetComponent<T>() { return default(T); } }

    [AttributeUsage(AttributeTargets.Field)] public sealed class SerializeField : Attribute { }
    [AttributeUsage(AttributeTargets.Field)] public sealed class HeaderAttribute : Attribute { public HeaderAttribute(string header) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string tooltip) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class TextAreaAttribute : Attribute { }

    public static class Debug
    {
        public static void Log(object message) { Console.WriteLine(message); }
        public static void LogWarning(object message) { Console.Error.WriteLine(message); }
        public static void LogError(object message) { Console.Error.WriteLine(message); }
        public static void LogException(Exception exception) { Console.Error.WriteLine(exception); }
    }
}

namespace UnityEngine.Events
{
    public abstract class UnityEventBase { }

    public class UnityEvent<T0> : UnityEventBase
    {
        readonly List<Action<T0>> _calls = new List<Action<T0>>();
        public void AddListener(Action<T0> call) { _calls.Add(call); }
        public void RemoveListener(Action<T0> call) { _calls.Remove(call); }
        public void Invoke(T0 arg0) { foreach (var c in _calls.ToArray()) c(arg0); }
    }

    public class UnityEvent<T0, T1> : UnityEventBase
    {
        readonly List<Action<T0, T1>> _calls = new List<Action<T0, T1>>();
        public void AddListener(Action<T0, T1> call) { _calls.Add(call); }
        public void RemoveListener(Action<T0, T1> call) { _calls.Remove(call); }
        public void Invoke(T0 arg0, T1 arg1) { foreach (var c in _calls.ToArray()) c(arg0, arg1); }
    }
}
