using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    /// <summary>
    /// glibc bindings. Every call sets errno through SetLastError; read it with
    /// <see cref="Marshal.GetLastPInvokeError"/> on the next line and keep the number.
    /// </summary>
    internal static partial class Libc
    {
        internal const string LibraryName = "libc";

        internal const int EINTR = 4;
        internal const int EAGAIN = 11;

        /// <summary>An exception for a failed libc call: the function, strerror text and the errno number.</summary>
        internal static IOException Error(string function, int errno) =>
            new($"{function} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})") { HResult = errno };

        internal static IOException LastError(string function) => Error(function, Marshal.GetLastPInvokeError());
    }
}
