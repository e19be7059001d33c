// Stream one reply: `make example ARGS="URL PERSONA MESSAGE"` (API key in $PERSONAMCP_KEY).
// Prints the deltas as they arrive, then the turn result as one JSON line. Engine-free: it
// uses only the package's core, on Mono or .NET.
using System;
using System.Collections.Generic;
using PersonaMCP;

static class Chat
{
    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: Chat.exe URL PERSONA MESSAGE   (API key in $PERSONAMCP_KEY)");
            return 2;
        }
        try
        {
            var options = new PersonaClientOptions { ApiKey = Environment.GetEnvironmentVariable("PERSONAMCP_KEY") };
            using (var client = PersonaClient.ConnectAsync(args[0], options).GetAwaiter().GetResult())
            {
                var stream = client.Stream(args[2], new Dictionary<string, object> { { "persona_id", args[1] } },
                    (delta, index) => { Console.Write(delta); Console.Out.Flush(); });
                var result = stream.Result.GetAwaiter().GetResult();
                Console.WriteLine();
                Console.WriteLine(result.ToJson());
            }
            return 0;
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine("error " + e.Code + ": " + e.RpcMessage);
            return 1;
        }
    }
}
