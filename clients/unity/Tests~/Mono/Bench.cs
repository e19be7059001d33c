// persona.get round trips through the C# core, one at a time: `mono Bench.exe URL KEY N WARMUP`.
// Prints {"client": "unity", "samples_ms": [...]} (bench/clients.py computes the percentiles).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using PersonaMCP;

static class Bench
{
    static int Main(string[] args)
    {
        var n = int.Parse(args[2]);
        var warmup = int.Parse(args[3]);
        var client = PersonaClient.ConnectAsync(args[0], new PersonaClientOptions { ApiKey = args[1] }).GetAwaiter().GetResult();
        for (var i = 0; i < warmup; i++) client.PersonaGetAsync("alice").GetAwaiter().GetResult();
        var samples = new List<object>();
        var watch = new Stopwatch();
        for (var i = 0; i < n; i++)
        {
            watch.Restart();
            client.PersonaGetAsync("alice").GetAwaiter().GetResult();
            samples.Add(watch.Elapsed.TotalMilliseconds);
        }
        client.CloseAsync().GetAwaiter().GetResult();
        Console.WriteLine(Json.Serialize(new Dictionary<string, object> { { "client", "unity" }, { "samples_ms", samples } }));
        return 0;
    }
}
