using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    /// <summary>
    /// socket/send/recv for rtnetlink: System.Net.Sockets does not create AF_NETLINK sockets
    /// (SocketException 97, address family not supported), so the route lookup of <c>check</c> talks to
    /// the kernel through these.
    /// </summary>
    internal static partial class Libc
    {
        internal const int AF_NETLINK = 16;
        internal const int SOCK_RAW = 3;
        internal const int SOCK_CLOEXEC = 0x80000;
        internal const int NETLINK_ROUTE = 0;

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static partial int socket(int domain, int type, int protocol);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial nint send(SafeFileHandle sockfd, void* buf, nuint len, int flags);

        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial nint recv(SafeFileHandle sockfd, void* buf, nuint len, int flags);
    }
}
