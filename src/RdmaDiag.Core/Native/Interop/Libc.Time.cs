using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int CLOCK_REALTIME = 0;
        internal const int CLOCK_MONOTONIC = 1;

        /// <summary>struct timespec on LP64 Linux: 64-bit time_t and long.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Timespec
        {
            public long tv_sec;
            public long tv_nsec;

            public readonly long TotalNanoseconds => tv_sec * 1_000_000_000L + tv_nsec;
        }

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int clock_gettime(int clockid, Timespec* tp);
    }
}
