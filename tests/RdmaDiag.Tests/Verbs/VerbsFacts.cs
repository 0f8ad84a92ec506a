using System.Net;
using RdmaDiag.Native;
using RdmaDiag.Tests.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>Runs only where librdmacm loads (rdma_event_str is compared with).</summary>
public sealed class RdmaCmLibraryTheoryAttribute : TheoryAttribute
{
    public RdmaCmLibraryTheoryAttribute()
    {
        if (!RdmaCoreLibraries.RdmaCm.IsAvailable)
        {
            Skip = $"needs librdmacm: apt-get install librdmacm1 ({RdmaCoreLibraries.RdmaCm.UnavailableReason})";
        }
    }
}

/// <summary>
/// Runs only where an RDMA device serves 127.0.0.1, so a verbs client and server can meet on loopback:
/// rdma_bind_addr(127.0.0.1) succeeds only when a device is bound to lo.
/// </summary>
public sealed class VerbsLoopbackFactAttribute : FactAttribute
{
    public VerbsLoopbackFactAttribute()
    {
        Skip = VerbsLoopback.MissingReason;
    }
}

internal static class VerbsLoopback
{
    private const string HowTo = "needs an RDMA device on the loopback interface: on a kernel with siw, " +
                                 "`modprobe siw && rdma link add siw_lo type siw netdev lo`; or run the kernel-siw guest scenarios in tests/vm";

    public static string? MissingReason { get; } = Probe();

    private static string? Probe()
    {
        if (RdmaDeviceProbe.MissingReason is not null)
        {
            return $"{HowTo} (this host has no RDMA device at all)";
        }
        try
        {
            using VerbsListener listener = VerbsListener.Start(new IPEndPoint(IPAddress.Loopback, 0));
            return null;
        }
        catch (Exception e) when (e is VerbsUnavailableException or RdmaNativeException)
        {
            return $"{HowTo} ({e.Message})";
        }
    }
}
