using System.Runtime.InteropServices;
using RdmaDiag.Native;

namespace RdmaDiag.Latency;

/// <summary>Pins the calling OS thread (not the whole process) to one CPU with sched_setaffinity.</summary>
public static class CpuAffinity
{
    /// <summary>The CPUs this process may run on, from sched_getaffinity.</summary>
    public static unsafe IReadOnlyList<int> AllowedCpus()
    {
        Interop.Libc.CpuSet set;
        if (Interop.Libc.sched_getaffinity(0, (nuint)sizeof(Interop.Libc.CpuSet), &set) != 0)
        {
            throw Interop.Libc.LastError("sched_getaffinity");
        }
        var cpus = new List<int>();
        for (var cpu = 0; cpu < Interop.Libc.CpuSetBits; cpu++)
        {
            if ((set.bits[cpu / 64] & (1UL << (cpu % 64))) != 0)
            {
                cpus.Add(cpu);
            }
        }
        return cpus;
    }

    /// <exception cref="UserInputException">the CPU is not one this process may use.</exception>
    public static unsafe void PinCurrentThread(int cpu)
    {
        var allowed = AllowedCpus();
        if (!allowed.Contains(cpu))
        {
            throw new UserInputException($"--cpu {cpu}: not a CPU this process may run on; allowed: {Describe(allowed)}");
        }
        Interop.Libc.CpuSet set;
        set.bits[cpu / 64] = 1UL << (cpu % 64);
        if (Interop.Libc.sched_setaffinity(0, (nuint)sizeof(Interop.Libc.CpuSet), &set) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new UserInputException($"--cpu {cpu}: sched_setaffinity refused: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    public static int CurrentCpu() => Interop.Libc.sched_getcpu();

    /// <summary>"0-3,6" style list.</summary>
    public static string Describe(IReadOnlyList<int> cpus)
    {
        var parts = new List<string>();
        for (var i = 0; i < cpus.Count;)
        {
            var j = i;
            while (j + 1 < cpus.Count && cpus[j + 1] == cpus[j] + 1)
            {
                j++;
            }
            parts.Add(i == j ? $"{cpus[i]}" : $"{cpus[i]}-{cpus[j]}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }
}
