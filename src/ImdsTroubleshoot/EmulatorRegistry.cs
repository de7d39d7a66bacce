using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot;

/// <summary>The emulators started in this process (they are process-wide, like the sockets they own).</summary>
internal static class EmulatorRegistry
{
    private static readonly ConcurrentDictionary<int, ImdsEmulator> s_emulators = new();

    public static void Add(ImdsEmulator emulator) => s_emulators[emulator.Id] = emulator;

    public static IReadOnlyList<ImdsEmulator> All => s_emulators.Values.OrderBy(e => e.Id).ToList();

    public static void Remove(ImdsEmulator emulator) => s_emulators.TryRemove(emulator.Id, out _);

    public static void StopAll()
    {
        foreach (var emulator in s_emulators.Values)
        {
            emulator.Stop();
        }

        s_emulators.Clear();
    }
}
