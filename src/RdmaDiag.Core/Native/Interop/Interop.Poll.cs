using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

// poll(2) lets the verbs API wait on a completion channel or an rdma_cm event channel with a timeout
// before the blocking ibv_get_cq_event / rdma_get_cm_event read. Kept apart from the Libc*.cs files
// that another area owns; it only adds these two members to Interop.Libc.
internal static unsafe partial class Interop
{
    internal static unsafe partial class Libc
    {
        internal const short POLLIN = 0x001;

#pragma warning disable CS8981 // native names verbatim
        [CType("struct pollfd", "poll.h")]
        [StructLayout(LayoutKind.Explicit, Size = 8)]
        internal struct pollfd
        {
            [FieldOffset(0)] public int fd;
            [FieldOffset(4)] public short events;
            [FieldOffset(6)] public short revents;
        }
#pragma warning restore CS8981

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int poll(pollfd* fds, nuint nfds, int timeout);
    }
}
