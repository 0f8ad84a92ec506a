using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Latency;

/// <summary>
/// What `rdmadiag serve --soft` runs for `rdmadiag latency` and `compare` beside its probe server: the
/// tcp/udp echo responder (<see cref="LatencyResponder"/>, port 18515, for tcp and rx-stamp) and the
/// soft latency responder (<see cref="SoftLatencyResponder"/>, port 18516, for send, write and read)
/// with the serve's own MPA/CRC setup. A port that cannot be bound (another serve holds it) is logged
/// and skipped, so the probe server still runs.
/// </summary>
public sealed class LatencyServices : IDisposable
{
    private readonly LatencyResponder? _tcp;
    private readonly SoftLatencyResponder? _soft;

    private LatencyServices(LatencyResponder? tcp, SoftLatencyResponder? soft)
    {
        _tcp = tcp;
        _soft = soft;
    }

    /// <summary>The tcp/udp echo responder's address, null when it could not listen.</summary>
    public IPEndPoint? TcpEndPoint => _tcp?.LocalEndPoint;

    /// <summary>The soft latency responder's address, null when it could not listen.</summary>
    public IPEndPoint? SoftEndPoint => _soft?.LocalEndPoint;

    public static LatencyServices Start(IPAddress address, IwarpSetupOptions setup, TextWriter log,
        int tcpPort = LatencyResponder.DefaultPort, int softPort = SoftLatencyProtocol.DefaultPort)
    {
        LatencyResponder? tcp = null;
        SoftLatencyResponder? soft = null;
        try
        {
            tcp = new LatencyResponder(new IPEndPoint(address, tcpPort));
            log.WriteLine($"latency: tcp/udp echo responder on {tcp.LocalEndPoint} (latency tcp, rx-stamp)");
        }
        catch (UserInputException e)
        {
            log.WriteLine($"latency: no tcp/udp echo responder: {e.Message}");
        }
        try
        {
            soft = new SoftLatencyResponder(new IPEndPoint(address, softPort), setup, log);
            log.WriteLine($"latency: soft latency responder on {soft.LocalEndPoint} (latency send, write, read --soft)");
        }
        catch (UserInputException e)
        {
            log.WriteLine($"latency: no soft latency responder: {e.Message}");
        }
        return new LatencyServices(tcp, soft);
    }

    public void Dispose()
    {
        _soft?.Dispose();
        _tcp?.Dispose();
    }
}
