using System.Net;
using System.Net.Sockets;

namespace RdmaDiag.Latency;

/// <summary>
/// The far end of `rdmadiag latency tcp` and `rx-stamp`. On TCP it accepts connections, answers the
/// hello (<see cref="TcpPingPongProtocol"/>) and echoes every byte back at once, on one dedicated thread
/// per connection (blocking, or spinning when the client asked for busy-poll). On UDP, same port number,
/// it echoes each datagram to its sender. Hosted by `rdmadiag serve`, and in-process for loopback runs
/// and tests. Dispose stops it and closes every connection.
/// </summary>
public sealed class LatencyResponder : IDisposable
{
    private const int EchoBuffer = 256 << 10;

    /// <summary>Where a standalone responder listens unless told otherwise (perftest's port).</summary>
    public const int DefaultPort = 18515;

    private const int MaxDatagram = 65535;

    private readonly Socket _listener;
    private readonly Socket _udp;
    private readonly Thread _acceptThread;
    private readonly Thread _udpThread;
    private readonly List<(Socket Socket, Thread Thread)> _connections = [];
    private readonly Lock _gate = new();
    private volatile bool _stopping;
    private long _accepted;

    public LatencyResponder(IPEndPoint listenOn)
    {
        (_listener, _udp) = BindPair(listenOn);
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptThread = new Thread(AcceptLoop) { Name = "latency responder accept", IsBackground = true };
        _acceptThread.Start();
        _udpThread = new Thread(EchoDatagrams) { Name = "latency responder udp", IsBackground = true };
        _udpThread.Start();
    }

    /// <summary>A TCP listener and a UDP socket on the same port; with port 0 the ephemeral TCP port is
    /// reused for UDP, retried when that number is taken on UDP.</summary>
    private static (Socket Tcp, Socket Udp) BindPair(IPEndPoint listenOn)
    {
        for (var attempt = 0; ; attempt++)
        {
            var tcp = new Socket(listenOn.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            var udp = new Socket(listenOn.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                tcp.Bind(listenOn);
                tcp.Listen(16);
                udp.Bind(new IPEndPoint(listenOn.Address, ((IPEndPoint)tcp.LocalEndPoint!).Port));
                return (tcp, udp);
            }
            catch (SocketException e)
            {
                tcp.Dispose();
                udp.Dispose();
                if (listenOn.Port != 0 || attempt == 8)
                {
                    throw new UserInputException($"latency responder: cannot listen on {listenOn} (TCP and UDP): {e.Message}");
                }
            }
        }
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Connections accepted so far (including ones already closed).</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        _listener.Dispose();
        _udp.Dispose();
        _acceptThread.Join();
        _udpThread.Join();
        List<(Socket Socket, Thread Thread)> connections;
        lock (_gate)
        {
            connections = [.. _connections];
        }
        foreach (var (socket, _) in connections)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already reset by the peer or closed by its own thread; closing below is all that is left.
            }
            socket.Dispose();
        }
        foreach (var (_, thread) in connections)
        {
            thread.Join();
        }
    }

    private void AcceptLoop()
    {
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            client.NoDelay = true;
            var thread = new Thread(() => Serve(client)) { Name = "latency responder tcp", IsBackground = true };
            lock (_gate)
            {
                _connections.RemoveAll(c => !c.Thread.IsAlive && c.Thread.ThreadState != System.Threading.ThreadState.Unstarted);
                _connections.Add((client, thread));
            }
            thread.Start();
        }
    }

    private void Serve(Socket client)
    {
        try
        {
            Span<byte> hello = stackalloc byte[TcpPingPongProtocol.HelloLength];
            client.ReceiveTimeout = 5000;
            SocketIo.ReceiveExactly(client, hello);
            if (!TcpPingPongProtocol.TryReadHello(hello, out var version, out var flags))
            {
                return;
            }
            var status = version == TcpPingPongProtocol.Version ? TcpPingPongProtocol.StatusOk : TcpPingPongProtocol.StatusUnsupportedVersion;
            TcpPingPongProtocol.WriteReply(hello, status);
            SocketIo.SendAll(client, hello);
            if (status != TcpPingPongProtocol.StatusOk)
            {
                return;
            }
            client.ReceiveTimeout = 0;
            var buffer = GC.AllocateUninitializedArray<byte>(EchoBuffer, pinned: true);
            if ((flags & TcpPingPongProtocol.FlagBusyPoll) != 0)
            {
                EchoSpinning(client, buffer);
            }
            else
            {
                EchoBlocking(client, buffer);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or TimeoutException)
        {
            // A client that goes away mid-message ends only its own connection.
        }
        finally
        {
            client.Dispose();
        }
    }

    private static void EchoBlocking(Socket client, byte[] buffer)
    {
        while (true)
        {
            var n = client.Receive(buffer, SocketFlags.None, out var error);
            if (error != SocketError.Success || n == 0)
            {
                return;
            }
            SocketIo.SendAll(client, buffer.AsSpan(0, n));
        }
    }

    private void EchoSpinning(Socket client, byte[] buffer)
    {
        client.Blocking = false;
        var spins = 0;
        while (true)
        {
            var n = client.Receive(buffer, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                if (++spins % 65536 == 0 && _stopping)
                {
                    return;
                }
                continue;
            }
            if (error != SocketError.Success || n == 0)
            {
                return;
            }
            var pending = buffer.AsSpan(0, n);
            while (!pending.IsEmpty)
            {
                var sent = client.Send(pending, SocketFlags.None, out var sendError);
                if (sendError == SocketError.Success)
                {
                    pending = pending[sent..];
                }
                else if (sendError != SocketError.WouldBlock)
                {
                    return;
                }
                else if (_stopping)
                {
                    return;
                }
            }
        }
    }

    private void EchoDatagrams()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(MaxDatagram, pinned: true);
        EndPoint from = new IPEndPoint(LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stopping)
        {
            try
            {
                var n = _udp.ReceiveFrom(buffer, ref from);
                _udp.SendTo(buffer.AsSpan(0, n), SocketFlags.None, from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize or SocketError.NoBufferSpaceAvailable)
            {
                // ICMP unreachable from an earlier reply, or a full queue: that datagram is lost, go on.
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The responder a latency run talks to: the one at HOST (default port <see cref="DefaultPort"/>),
    /// or, without HOST, a new one in-process on loopback that the caller disposes.
    /// </summary>
    internal static (LatencyResponder? Local, IPEndPoint Target) ForRun(LatencyRunSettings settings, string mode, List<string> notes)
    {
        if (settings.Host is null)
        {
            var local = new LatencyResponder(new IPEndPoint(IPAddress.Loopback, settings.Port));
            notes.Add($"{mode}: own sender, an in-process responder on {local.LocalEndPoint}");
            return (local, local.LocalEndPoint);
        }
        var target = new IPEndPoint(Resolve(settings.Host), settings.Port == 0 ? DefaultPort : settings.Port);
        notes.Add($"{mode}: responder at {settings.Host} ({target})");
        return (null, target);
    }

    internal static IPAddress Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault()
                ?? throw new UserInputException($"HOST '{host}': resolves to no address");
        }
        catch (SocketException e)
        {
            throw new UserInputException($"HOST '{host}': cannot resolve: {e.Message}");
        }
    }

    /// <summary>Runs a standalone responder until <paramref name="stop"/> fires (for `rdmadiag serve`).</summary>
    public static void RunUntil(IPEndPoint listenOn, CancellationToken stop, TextWriter log)
    {
        using var responder = new LatencyResponder(listenOn);
        log.WriteLine($"latency responder listening on {responder.LocalEndPoint} (TCP and UDP)");
        stop.WaitHandle.WaitOne();
    }
}
