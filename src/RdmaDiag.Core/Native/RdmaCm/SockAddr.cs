using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace RdmaDiag.Native;

/// <summary>
/// struct sockaddr_in / sockaddr_in6 as librdmacm takes and returns them (Linux: sa_family in host
/// order, port and IPv4 address in network order).
/// </summary>
internal static unsafe class SockAddr
{
    public const ushort AF_INET = 2;
    public const ushort AF_INET6 = 10;

    /// <summary>sizeof(struct sockaddr_storage).</summary>
    public const int StorageSize = 128;

    /// <summary>Writes <paramref name="endPoint"/> into <paramref name="storage"/> (StorageSize bytes, zeroed first).</summary>
    public static void Write(IPEndPoint endPoint, Span<byte> storage)
    {
        storage[..StorageSize].Clear();
        fixed (byte* p = storage)
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetwork)
            {
                var sin = (Interop.RdmaCm.sockaddr_in*)p;
                sin->sin_family = AF_INET;
                sin->sin_port = ToNetwork((ushort)endPoint.Port);
                endPoint.Address.TryWriteBytes(new Span<byte>(&sin->sin_addr, 4), out _);
            }
            else if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                var sin6 = (Interop.RdmaCm.sockaddr_in6*)p;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = ToNetwork((ushort)endPoint.Port);
                endPoint.Address.TryWriteBytes(new Span<byte>(sin6->sin6_addr, 16), out _);
                sin6->sin6_scope_id = (uint)endPoint.Address.ScopeId;
            }
            else
            {
                throw new UserInputException($"address {endPoint}: only IPv4 and IPv6 can be used with rdma_cm");
            }
        }
    }

    /// <summary>Reads a sockaddr; null for AF_UNSPEC or a family rdma_cm does not use for iWARP/RoCE.</summary>
    public static IPEndPoint? Read(ReadOnlySpan<byte> storage)
    {
        if (storage.Length < sizeof(Interop.RdmaCm.sockaddr_in))
        {
            return null;
        }
        fixed (byte* p = storage)
        {
            var family = *(ushort*)p;
            if (family == AF_INET)
            {
                var sin = (Interop.RdmaCm.sockaddr_in*)p;
                return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(&sin->sin_addr, 4)), FromNetwork(sin->sin_port));
            }
            if (family == AF_INET6 && storage.Length >= sizeof(Interop.RdmaCm.sockaddr_in6))
            {
                var sin6 = (Interop.RdmaCm.sockaddr_in6*)p;
                return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(sin6->sin6_addr, 16), sin6->sin6_scope_id), FromNetwork(sin6->sin6_port));
            }
            return null;
        }
    }

    private static ushort ToNetwork(ushort value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    private static ushort FromNetwork(ushort value) => ToNetwork(value);
}
