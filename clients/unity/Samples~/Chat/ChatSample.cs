// Sample: put a PersonaNpc on a GameObject, add this next to it, press Play: the NPC greets
// the player and the reply is logged as it streams in.
using UnityEngine;

namespace PersonaMCP.Unity.Samples
{
    public class ChatSample : MonoBehaviour
    {
        [SerializeField] PersonaNpc npc;
        [SerializeField] string firstLine = "Hello! Who are you?";

        void Start()
        {
            npc.onChunk.AddListener(delta => Debug.Log("chunk: " + delta));
            npc.onReply.AddListener(reply => Debug.Log(npc.name + " says: " + reply));
            npc.onExpression.AddListener(emotion => Debug.Log("expression: " + emotion));
            npc.onAction.AddListener((action, args) => Debug.Log("action: " + action + " " + args));
            npc.onError.AddListener(error => Debug.LogWarning("PersonaMCP error: " + error));
            npc.Say(firstLine);
        }
    }
}
