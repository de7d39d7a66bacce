using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation.Runspaces;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot;

/// <summary>
/// The emulators started in each runspace, like jobs: Get-ImdsEmulator lists the current runspace's, and they
/// stop when the module is removed or the runspace closes (or the process exits).
/// </summary>
internal static class EmulatorRegistry
{
    private static readonly ConcurrentDictionary<Guid, ConcurrentDictionary<int, ImdsEmulator>> s_byRunspace = new();

    private static ConcurrentDictionary<int, ImdsEmulator> Current
    {
        get
        {
            Runspace? runspace = Runspace.DefaultRunspace;
            Guid key = runspace?.InstanceId ?? Guid.Empty;
            return s_byRunspace.GetOrAdd(key, _ =>
            {
                if (runspace is not null)
                {
                    runspace.StateChanged += OnRunspaceStateChanged;
                }

                return new ConcurrentDictionary<int, ImdsEmulator>();
            });
        }
    }

    public static void Add(ImdsEmulator emulator) => Current[emulator.Id] = emulator;

    public static IReadOnlyList<ImdsEmulator> All => Current.Values.OrderBy(e => e.Id).ToList();

    public static void Remove(ImdsEmulator emulator) => Current.TryRemove(emulator.Id, out _);

    /// <summary>Stops the current runspace's emulators.</summary>
    public static void StopAll()
    {
        var current = Current;
        foreach (var emulator in current.Values)
        {
            emulator.Stop();
        }

        current.Clear();
    }

    private static void OnRunspaceStateChanged(object? sender, RunspaceStateEventArgs e)
    {
        if (sender is Runspace runspace && e.RunspaceStateInfo.State is RunspaceState.Closed or RunspaceState.Broken
            && s_byRunspace.TryRemove(runspace.InstanceId, out var emulators))
        {
            runspace.StateChanged -= OnRunspaceStateChanged;
            foreach (var emulator in emulators.Values)
            {
                emulator.Stop();
            }
        }
    }
}
