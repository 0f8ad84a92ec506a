using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

/// <summary>
/// A failed rdma-core call: the function, the errno it reported and strerror's text, e.g.
/// "ibv_get_device_list failed: Function not implemented (errno 38, ENOSYS)".
/// </summary>
public sealed class RdmaNativeException : Exception
{
    public RdmaNativeException(string function, int errno, string? detail = null)
        : base(Format(function, errno, detail))
    {
        Function = function;
        Errno = errno;
    }

    public string Function { get; }

    public int Errno { get; }

    /// <summary>The symbolic name (ENOSYS) when known, else null.</summary>
    public string? ErrnoName => Native.Errno.Name(Errno);

    private static string Format(string function, int errno, string? detail)
    {
        var name = Native.Errno.Name(errno);
        var text = Marshal.GetPInvokeErrorMessage(errno);
        var suffix = name is null ? $"errno {errno}" : $"errno {errno}, {name}";
        return detail is null
            ? $"{function} failed: {text} ({suffix})"
            : $"{function} failed ({detail}): {text} ({suffix})";
    }

    /// <summary>NULL + errno convention: call right after the P/Invoke that returned NULL.</summary>
    internal static RdmaNativeException FromLastError(string function, string? detail = null) =>
        new(function, Marshal.GetLastPInvokeError(), detail);
}

/// <summary>Linux errno numbers RdmaDiag names in messages and matches in diagnostics (x86-64/arm64).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ENOSYS = 38;
    public const int EPROTO = 71;
    public const int EOPNOTSUPP = 95;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;

    public static string? Name(int errno) => errno switch
    {
        EPERM => nameof(EPERM),
        ENOENT => nameof(ENOENT),
        EINTR => nameof(EINTR),
        EIO => nameof(EIO),
        ENXIO => nameof(ENXIO),
        EAGAIN => nameof(EAGAIN),
        ENOMEM => nameof(ENOMEM),
        EACCES => nameof(EACCES),
        EFAULT => nameof(EFAULT),
        EBUSY => nameof(EBUSY),
        EEXIST => nameof(EEXIST),
        ENODEV => nameof(ENODEV),
        EINVAL => nameof(EINVAL),
        ENOSPC => nameof(ENOSPC),
        ENOSYS => nameof(ENOSYS),
        EPROTO => nameof(EPROTO),
        EOPNOTSUPP => nameof(EOPNOTSUPP),
        EADDRINUSE => nameof(EADDRINUSE),
        EADDRNOTAVAIL => nameof(EADDRNOTAVAIL),
        ENETDOWN => nameof(ENETDOWN),
        ENETUNREACH => nameof(ENETUNREACH),
        ECONNABORTED => nameof(ECONNABORTED),
        ECONNRESET => nameof(ECONNRESET),
        ENOTCONN => nameof(ENOTCONN),
        ETIMEDOUT => nameof(ETIMEDOUT),
        ECONNREFUSED => nameof(ECONNREFUSED),
        EHOSTUNREACH => nameof(EHOSTUNREACH),
        _ => null,
    };
}
