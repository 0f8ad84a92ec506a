using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int SOL_SOCKET = 1;
        internal const int SO_RCVTIMEO = 20;

        // asm-generic/socket.h: on LP64 SO_TIMESTAMPING is SO_TIMESTAMPING_OLD (37) and already carries
        // 64-bit timespecs; SCM_TIMESTAMPING is the same number.
        internal const int SO_TIMESTAMPING = 37;
        internal const int SCM_TIMESTAMPING = SO_TIMESTAMPING;

        // linux/net_tstamp.h
        internal const uint SOF_TIMESTAMPING_TX_HARDWARE = 1 << 0;
        internal const uint SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
        internal const uint SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2;
        internal const uint SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3;
        internal const uint SOF_TIMESTAMPING_SOFTWARE = 1 << 4;
        internal const uint SOF_TIMESTAMPING_SYS_HARDWARE = 1 << 5;
        internal const uint SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6;

        internal const int MSG_DONTWAIT = 0x40;

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct Iovec
        {
            public void* iov_base;
            public nuint iov_len;
        }

        /// <summary>struct msghdr (LP64): the int namelen is followed by 4 bytes of padding.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct Msghdr
        {
            public void* msg_name;
            public uint msg_namelen;
            public Iovec* msg_iov;
            public nuint msg_iovlen;
            public void* msg_control;
            public nuint msg_controllen;
            public int msg_flags;
        }

        /// <summary>struct cmsghdr (LP64): size_t len, int level, int type, then data aligned to size_t.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Cmsghdr
        {
            public nuint cmsg_len;
            public int cmsg_level;
            public int cmsg_type;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct Timeval
        {
            public long tv_sec;
            public long tv_usec;
        }

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int setsockopt(int sockfd, int level, int optname, void* optval, uint optlen);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int getsockopt(int sockfd, int level, int optname, void* optval, uint* optlen);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial nint recvmsg(int sockfd, Msghdr* msg, int flags);
    }
}
