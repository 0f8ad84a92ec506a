using System.Buffers.Binary;
using System.Text;

namespace RdmaDiag.Native;

/// <summary>One entry of ibv_get_device_list, copied out before the list is freed.</summary>
public sealed record VerbsDeviceInfo(
    string Name,
    string UverbsName,
    NodeType NodeType,
    TransportType TransportType,
    ulong NodeGuid,
    string IbDevPath)
{
    /// <summary>The GUID as ibv_devinfo prints it: four groups of 16 bits, e.g. 0007:4306:48b0:0000.</summary>
    public string NodeGuidText => Guids.Format(NodeGuid);
}

public static unsafe class VerbsDevices
{
    /// <summary>
    /// ibv_get_device_list. On a kernel without RDMA support this throws with ENOSYS; with RDMA but no
    /// device it returns an empty list.
    /// </summary>
    public static IReadOnlyList<VerbsDeviceInfo> List() =>
        WithDeviceList(devices =>
        {
            var result = new List<VerbsDeviceInfo>(devices.Count);
            foreach (var device in devices)
            {
                result.Add(Describe((Interop.IbVerbs.ibv_device*)device));
            }
            return result;
        });

    /// <summary>Opens the device named <paramref name="name"/> (ibv_open_device), or throws naming the devices seen.</summary>
    public static VerbsContext Open(string name) =>
        WithDeviceList(devices =>
        {
            var seen = new List<string>();
            foreach (var device in devices)
            {
                var info = Describe((Interop.IbVerbs.ibv_device*)device);
                if (info.Name == name)
                {
                    return VerbsContext.Open((Interop.IbVerbs.ibv_device*)device, info);
                }
                seen.Add(info.Name);
            }
            throw new UserInputException(seen.Count == 0
                ? $"RDMA device '{name}' not found: this host has no RDMA device (run 'rdmadiag devices' for why)"
                : $"RDMA device '{name}' not found; devices here: {string.Join(", ", seen)}");
        });

    // Device pointers are valid until ibv_free_device_list; an opened context stays valid after it.
    private static T WithDeviceList<T>(Func<IReadOnlyList<nint>, T> use)
    {
        RdmaCoreLibraries.ThrowIfUnavailable(RdmaCoreLibraries.Verbs);
        int count;
        var list = Interop.IbVerbs.ibv_get_device_list(&count);
        if (list is null)
        {
            throw RdmaNativeException.FromLastError("ibv_get_device_list");
        }
        try
        {
            var devices = new List<nint>(count);
            for (var i = 0; i < count && list[i] is not null; i++)
            {
                devices.Add((nint)list[i]);
            }
            return use(devices);
        }
        finally
        {
            Interop.IbVerbs.ibv_free_device_list(list);
        }
    }

    internal static VerbsDeviceInfo Describe(Interop.IbVerbs.ibv_device* device) => new(
        CString(device->name, 64),
        CString(device->dev_name, 64),
        (NodeType)device->node_type,
        (TransportType)device->transport_type,
        Guids.FromNetworkOrder(Interop.IbVerbs.ibv_get_device_guid(device)),
        CString(device->ibdev_path, 256));

    internal static string CString(byte* chars, int capacity)
    {
        var span = new ReadOnlySpan<byte>(chars, capacity);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }
}

internal static class Guids
{
    /// <summary>Formats a host-order 64-bit GUID as xxxx:xxxx:xxxx:xxxx.</summary>
    public static string Format(ulong guid) =>
        $"{(guid >> 48) & 0xFFFF:x4}:{(guid >> 32) & 0xFFFF:x4}:{(guid >> 16) & 0xFFFF:x4}:{guid & 0xFFFF:x4}";

    /// <summary>A __be64 as read from native memory into a ulong, turned into its numeric value.</summary>
    public static ulong FromNetworkOrder(ulong raw) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(raw) : raw;
}
