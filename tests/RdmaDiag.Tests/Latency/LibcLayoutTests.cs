using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Latency;

/// <summary>A fact that needs a C compiler and the kernel UAPI headers.</summary>
public sealed class CCompilerFactAttribute : FactAttribute
{
    public CCompilerFactAttribute()
    {
        if (!File.Exists("/usr/bin/gcc") || !File.Exists("/usr/include/linux/net_tstamp.h"))
        {
            Skip = "needs gcc and the kernel headers to prove struct layouts: apt-get install gcc linux-libc-dev";
        }
    }
}

/// <summary>
/// Proves the libc structs and constants against the real headers: the C# layout is written out as C
/// static_asserts and compiled with gcc.
/// </summary>
public unsafe class LibcLayoutTests
{
    [CCompilerFact]
    public void LibcStructsAndConstants_MatchTheSystemHeaders()
    {
        var c = new StringBuilder("""
            #define _GNU_SOURCE
            #include <stddef.h>
            #include <time.h>
            #include <sched.h>
            #include <sys/socket.h>
            #include <sys/time.h>
            #include <sys/ioctl.h>
            #include <net/if.h>
            #include <linux/sockios.h>
            #include <linux/ethtool.h>
            #include <linux/net_tstamp.h>
            #include <linux/errqueue.h>
            #include <errno.h>

            """);
        void Size<T>(string cType) where T : unmanaged =>
            c.AppendLine($"_Static_assert(sizeof({cType}) == {sizeof(T)}, \"sizeof {cType}\");");
        void At(string cType, string field, long offset) =>
            c.AppendLine($"_Static_assert(offsetof({cType}, {field}) == {offset}, \"{cType}.{field}\");");
        void Is(string cName, long value) =>
            c.AppendLine($"_Static_assert((long)({cName}) == {value}L, \"{cName}\");");

        Size<Interop.Libc.Timespec>("struct timespec");
        Size<Interop.Libc.Timeval>("struct timeval");
        Size<Interop.Libc.CpuSet>("cpu_set_t");
        Size<Interop.Libc.Iovec>("struct iovec");
        Size<Interop.Libc.Msghdr>("struct msghdr");
        Interop.Libc.Msghdr m = default;
        var mb = (byte*)&m;
        At("struct msghdr", "msg_namelen", (byte*)&m.msg_namelen - mb);
        At("struct msghdr", "msg_iov", (byte*)&m.msg_iov - mb);
        At("struct msghdr", "msg_iovlen", (byte*)&m.msg_iovlen - mb);
        At("struct msghdr", "msg_control", (byte*)&m.msg_control - mb);
        At("struct msghdr", "msg_controllen", (byte*)&m.msg_controllen - mb);
        At("struct msghdr", "msg_flags", (byte*)&m.msg_flags - mb);
        Size<Interop.Libc.Cmsghdr>("struct cmsghdr");
        Interop.Libc.Cmsghdr h = default;
        At("struct cmsghdr", "cmsg_level", (byte*)&h.cmsg_level - (byte*)&h);
        At("struct cmsghdr", "cmsg_type", (byte*)&h.cmsg_type - (byte*)&h);
        c.AppendLine($"_Static_assert(CMSG_LEN(0) == {Libc0()}, \"CMSG_LEN(0)\");");
        Size<Interop.Libc.Ifreq>("struct ifreq");
        Interop.Libc.Ifreq r = default;
        At("struct ifreq", "ifr_data", (byte*)&r.ifr_data - (byte*)&r);
        Size<Interop.Libc.EthtoolTsInfo>("struct ethtool_ts_info");
        Interop.Libc.EthtoolTsInfo t = default;
        At("struct ethtool_ts_info", "so_timestamping", (byte*)&t.so_timestamping - (byte*)&t);
        At("struct ethtool_ts_info", "phc_index", (byte*)&t.phc_index - (byte*)&t);
        At("struct ethtool_ts_info", "rx_filters", (byte*)&t.rx_filters - (byte*)&t);
        Size<Interop.Libc.HwtstampConfig>("struct hwtstamp_config");
        c.AppendLine("_Static_assert(sizeof(struct scm_timestamping) == " + RdmaDiag.Latency.KernelTimestamps.ScmTimestampingLength + ", \"scm_timestamping\");");

        Is("CLOCK_REALTIME", Interop.Libc.CLOCK_REALTIME);
        Is("CLOCK_MONOTONIC", Interop.Libc.CLOCK_MONOTONIC);
        Is("SOL_SOCKET", Interop.Libc.SOL_SOCKET);
        Is("SO_RCVTIMEO", Interop.Libc.SO_RCVTIMEO);
        Is("SO_TIMESTAMPING", Interop.Libc.SO_TIMESTAMPING);
        Is("SCM_TIMESTAMPING", Interop.Libc.SCM_TIMESTAMPING);
        Is("SOF_TIMESTAMPING_RX_HARDWARE", Interop.Libc.SOF_TIMESTAMPING_RX_HARDWARE);
        Is("SOF_TIMESTAMPING_RX_SOFTWARE", Interop.Libc.SOF_TIMESTAMPING_RX_SOFTWARE);
        Is("SOF_TIMESTAMPING_SOFTWARE", Interop.Libc.SOF_TIMESTAMPING_SOFTWARE);
        Is("SOF_TIMESTAMPING_RAW_HARDWARE", Interop.Libc.SOF_TIMESTAMPING_RAW_HARDWARE);
        Is("MSG_DONTWAIT", Interop.Libc.MSG_DONTWAIT);
        Is("SIOCETHTOOL", (long)Interop.Libc.SIOCETHTOOL);
        Is("SIOCGHWTSTAMP", (long)Interop.Libc.SIOCGHWTSTAMP);
        Is("ETHTOOL_GET_TS_INFO", Interop.Libc.ETHTOOL_GET_TS_INFO);
        Is("IFNAMSIZ", Interop.Libc.IFNAMSIZ);
        Is("HWTSTAMP_FILTER_NONE", Interop.Libc.HWTSTAMP_FILTER_NONE);
        Is("CLONE_NEWNET", Interop.Libc.CLONE_NEWNET);
        Is("EAGAIN", Interop.Libc.EAGAIN);
        Is("EINTR", Interop.Libc.EINTR);

        var dir = Directory.CreateTempSubdirectory("rdl-layout-");
        try
        {
            var source = Path.Combine(dir.FullName, "layout.c");
            File.WriteAllText(source, c.ToString());
            using var gcc = Process.Start(new ProcessStartInfo("gcc", $"-std=c11 -fsyntax-only {source}") { RedirectStandardError = true })!;
            var errors = gcc.StandardError.ReadToEnd();
            gcc.WaitForExit();
            Assert.True(gcc.ExitCode == 0, errors);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static int Libc0() => RdmaDiag.Latency.ControlMessageReader.Length(0);

    [Fact]
    public void Timespec_TotalNanoseconds_CombinesSecondsAndNanoseconds()
    {
        var ts = new Interop.Libc.Timespec { tv_sec = 3, tv_nsec = 5 };

        Assert.Equal(3_000_000_005, ts.TotalNanoseconds);
        Assert.Equal(16, Unsafe.SizeOf<Interop.Libc.Timespec>());
    }
}
