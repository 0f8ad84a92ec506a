using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>glibc's cpu_set_t: 1024 bits.</summary>
        internal const int CpuSetBits = 1024;

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct CpuSet
        {
            public fixed ulong bits[CpuSetBits / 64];
        }

        /// <summary>pid 0 means the calling thread (Linux affinity is per task).</summary>
        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int sched_setaffinity(int pid, nuint cpusetsize, CpuSet* mask);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int sched_getaffinity(int pid, nuint cpusetsize, CpuSet* mask);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int sched_getcpu();

        internal const int CLONE_NEWNET = 0x40000000;

        /// <summary>Moves the calling thread into the namespace behind fd (e.g. /var/run/netns/NAME).</summary>
        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int setns(int fd, int nstype);
    }
}
