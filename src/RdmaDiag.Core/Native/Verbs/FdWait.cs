namespace RdmaDiag.Native;

/// <summary>poll(2) on one descriptor, so the blocking channel reads can honour a timeout.</summary>
internal static unsafe class FdWait
{
    /// <summary>True when <paramref name="fd"/> is readable; false when <paramref name="timeout"/> passed first.</summary>
    public static bool WaitReadable(int fd, TimeSpan timeout, string what)
    {
        var ms = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 0, int.MaxValue);
        var deadline = ms < 0 ? long.MaxValue : Environment.TickCount64 + ms;
        while (true)
        {
            var pfd = new Interop.Libc.pollfd { fd = fd, events = Interop.Libc.POLLIN };
            var rc = Interop.Libc.poll(&pfd, 1, ms);
            if (rc > 0)
            {
                return true;
            }
            if (rc == 0)
            {
                return false;
            }
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                throw new RdmaNativeException("poll", errno, what);
            }
            if (ms >= 0)
            {
                ms = (int)Math.Max(0, deadline - Environment.TickCount64);
            }
        }
    }
}
