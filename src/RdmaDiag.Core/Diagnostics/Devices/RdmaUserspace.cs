using RdmaDiag.Native;

namespace RdmaDiag.Diagnostics.Devices;

/// <summary>What rdma-core's libraries say: whether they load, and per device what libibverbs reports.</summary>
public interface IRdmaUserspace
{
    NativeLibraryStatus Verbs { get; }

    NativeLibraryStatus RdmaCm { get; }

    /// <summary>Per-device details keyed by device name, or the error ibv_get_device_list gave.</summary>
    (IReadOnlyDictionary<string, VerbsDetails> Devices, string? ListError, int? ListErrno) Query();
}

/// <summary>The real libraries.</summary>
public sealed class RdmaUserspace : IRdmaUserspace
{
    public static RdmaUserspace Instance { get; } = new();

    public NativeLibraryStatus Verbs => RdmaCoreLibraries.Verbs;

    public NativeLibraryStatus RdmaCm => RdmaCoreLibraries.RdmaCm;

    public (IReadOnlyDictionary<string, VerbsDetails> Devices, string? ListError, int? ListErrno) Query()
    {
        var result = new Dictionary<string, VerbsDetails>(StringComparer.Ordinal);
        if (!Verbs.IsAvailable)
        {
            return (result, Verbs.UnavailableReason, null);
        }
        IReadOnlyList<VerbsDeviceInfo> list;
        try
        {
            list = VerbsDevices.List();
        }
        catch (RdmaNativeException e)
        {
            return (result, e.Message, e.Errno);
        }
        foreach (var info in list)
        {
            result[info.Name] = Describe(info);
        }
        return (result, null, null);
    }

    private static VerbsDetails Describe(VerbsDeviceInfo info)
    {
        try
        {
            using var context = VerbsDevices.Open(info.Name);
            var attr = context.QueryDevice();
            var ports = new List<VerbsPortDetails>();
            for (byte port = 1; port <= attr.PhysPortCount; port++)
            {
                var p = context.QueryPort(port);
                ports.Add(new VerbsPortDetails(port, p.State.ToString().ToUpperInvariant(),
                    PortAttributes.MtuBytes(p.ActiveMtu), PortAttributes.MtuBytes(p.MaxMtu), p.LinkLayer.ToString()));
            }
            return new VerbsDetails(null, TransportName(info.TransportType), attr.FirmwareVersion, $"0x{attr.VendorId:x6}",
                attr.VendorPartId, attr.MaxQp, attr.MaxQpWr, attr.MaxCqe, attr.MaxMr, attr.MaxQpRdAtom, attr.MaxQpInitRdAtom, ports);
        }
        catch (Exception e) when (e is RdmaNativeException or UserInputException)
        {
            return new VerbsDetails(e.Message, TransportName(info.TransportType), null, null, null, null, null, null, null, null, null, []);
        }
    }

    private static string TransportName(TransportType t) => t switch
    {
        TransportType.Iwarp => "iWARP",
        TransportType.InfiniBand => "InfiniBand",
        _ => t.ToString(),
    };
}
