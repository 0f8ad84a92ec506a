using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RdmaDiag.Endpoint;

/// <summary>Round-trip times of one transport, every sample kept (microseconds).</summary>
public sealed record LatencySamples(string Transport, double[] Microseconds)
{
    public double Percentile(double p)
    {
        if (Microseconds.Length == 0)
        {
            return 0;
        }
        double[] sorted = [.. Microseconds.Order()];
        int index = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }

    public double P50 => Percentile(50);

    public double P99 => Percentile(99);

    public double Min => Microseconds.Length == 0 ? 0 : Microseconds.Min();

    public double Max => Microseconds.Length == 0 ? 0 : Microseconds.Max();
}

/// <summary>Per-round throughput of one transport (GB/s, 10^9 octets per second).</summary>
public sealed record ThroughputRounds(string Transport, double[] GBps)
{
    public double Median
    {
        get
        {
            double[] sorted = [.. GBps.Order()];
            return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        }
    }

    public double Min => GBps.Length == 0 ? 0 : GBps.Min();

    public double Max => GBps.Length == 0 ? 0 : GBps.Max();
}

/// <summary>Send/Recv ping-pong against raw TCP ping-pong, measured in the same run.</summary>
public sealed record PingPongResult(int Size, LatencySamples Tcp, LatencySamples Iwarp)
{
    public double P50Ratio => Tcp.P50 > 0 ? Iwarp.P50 / Tcp.P50 : 0;

    public double P99Ratio => Tcp.P99 > 0 ? Iwarp.P99 / Tcp.P99 : 0;
}

/// <summary>RDMA Write streaming against raw TCP streaming, measured in the same run.</summary>
public sealed record StreamingResult(int MessageSize, bool Crc, ThroughputRounds Tcp, ThroughputRounds Iwarp)
{
    public double Ratio => Tcp.Median > 0 ? Iwarp.Median / Tcp.Median : 0;
}

/// <summary>
/// The endpoint's overhead over the TCP it runs on, on loopback: each iWARP figure is measured next to
/// raw TCP doing the same job on the same loopback, in alternating rounds (a few round trips, a few
/// MiB), so load from other processes hits both sides of each ratio alike.
/// </summary>
public static class EndpointBenchmark
{
    /// <summary>Issue 3 targets: latency at most 1.15× raw TCP, throughput at least 0.8× raw TCP.</summary>
    public const double LatencyTarget = 1.15;

    public const double ThroughputTarget = 0.8;

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Ping-pong of <paramref name="size"/> octets: raw TCP (blocking send, blocking receive) and iWARP
    /// Send/Recv (PostSend, WaitForCompletion of the echo) with the given progress mode.
    /// </summary>
    public static PingPongResult PingPong(int size = 64, int rounds = 2000, int iterationsPerRound = 5,
        ProgressMode mode = ProgressMode.Inline, bool busyPoll = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterationsPerRound, 1);
        int total = rounds * iterationsPerRound;
        var options = new IwarpConnectionOptions { Progress = mode, BusyPoll = busyPoll };

        var (tcpClient, tcpServer) = TcpPair();
        using var _ = tcpServer;
        using var __ = tcpClient;
        Receives? serverReceives = null;
        Receives? clientReceives = null;
        using var iwarp = IwarpPair(options, options, server => serverReceives = new Receives(server, size), client => clientReceives = new Receives(client, size));
        var tcpEcho = new Thread(() => TcpEcho(tcpServer, size)) { IsBackground = true, Name = "bench-tcp-echo" };
        var iwarpEcho = new Thread(() => IwarpEcho(serverReceives!, size)) { IsBackground = true, Name = "bench-iwarp-echo" };
        tcpEcho.Start();
        iwarpEcho.Start();

        byte[] buffer = new byte[size];
        double[] tcp = new double[total];
        double[] rdma = new double[total];
        // Warm up until tiered compilation has replaced both loops with optimised code (well past its 100 ms delay).
        long warmUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        for (int i = 0; i < 10 || Stopwatch.GetTimestamp() < warmUntil; i++)
        {
            TcpRounds(tcpClient, buffer, 200, null, 0);
            IwarpRounds(clientReceives!, buffer, 200, null, 0);
        }
        for (int round = 0; round < rounds; round++)
        {
            TcpRounds(tcpClient, buffer, iterationsPerRound, tcp, round * iterationsPerRound);
            IwarpRounds(clientReceives!, buffer, iterationsPerRound, rdma, round * iterationsPerRound);
        }
        tcpClient.Dispose();
        iwarp.Client.Dispose();
        tcpEcho.Join(Wait);
        iwarpEcho.Join(Wait);
        return new PingPongResult(size, new LatencySamples("tcp", tcp), new LatencySamples("iwarp", rdma));
    }

    private static void TcpRounds(Socket socket, byte[] buffer, int count, double[]? samples, int at)
    {
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            socket.Send(buffer);
            for (int got = 0; got < buffer.Length;)
            {
                int n = socket.Receive(buffer, got, buffer.Length - got, SocketFlags.None);
                got += n > 0 ? n : throw new EndOfStreamException("raw TCP echo closed");
            }
            if (samples is not null)
            {
                samples[at + i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }
    }

    /// <summary>Echoes until the measuring side closes.</summary>
    private static void TcpEcho(Socket socket, int size)
    {
        byte[] buffer = new byte[size];
        while (true)
        {
            for (int got = 0; got < size;)
            {
                int n = socket.Receive(buffer, got, size - got, SocketFlags.None);
                if (n == 0)
                {
                    return;
                }
                got += n;
            }
            socket.Send(buffer);
        }
    }

    /// <summary>A few posted receives of one size, reposted by work request id without allocating.</summary>
    private sealed class Receives
    {
        private readonly byte[][] _buffers;

        public Receives(IwarpConnection connection, int size)
        {
            Connection = connection;
            _buffers = [.. Enumerable.Range(0, 4).Select(_ => new byte[size])];
            for (int i = 0; i < _buffers.Length; i++)
            {
                connection.PostReceive((ulong)i, _buffers[i]);
            }
        }

        public IwarpConnection Connection { get; }

        /// <summary>Waits for the next completion (a receive) and posts its buffer again.</summary>
        public void Next()
        {
            Completion completion = Connection.WaitForCompletion(Wait);
            if (completion.Status != CompletionStatus.Success)
            {
                throw (Exception?)Connection.Error ?? new InvalidOperationException($"benchmark completion failed: {completion}");
            }
            Connection.PostReceive(completion.WorkRequestId, _buffers[completion.WorkRequestId]);
        }
    }

    private static void IwarpRounds(Receives client, byte[] buffer, int count, double[]? samples, int at)
    {
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            client.Connection.PostSend(0, buffer, PostFlags.None);
            client.Next();
            if (samples is not null)
            {
                samples[at + i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }
    }

    /// <summary>Answers each receive with a Send of <paramref name="size"/> octets until the measuring side closes.</summary>
    private static void IwarpEcho(Receives server, int size)
    {
        byte[] reply = new byte[size];
        try
        {
            while (true)
            {
                server.Next();
                server.Connection.PostSend(0, reply, PostFlags.None);
            }
        }
        catch (IwarpException)
        {
            // The measuring side went away; its own error says why.
        }
    }

    /// <summary>
    /// Streams <paramref name="bytesPerRound"/> as <paramref name="messageSize"/>-octet messages: raw TCP
    /// sends, and iWARP RDMA Writes with CRC on and off; a round ends when the receiver has everything
    /// and has said so (a one-octet ack on TCP, a Send answered by a Send on iWARP).
    /// </summary>
    public static IReadOnlyList<StreamingResult> Streaming(int messageSize = 64 * 1024, int rounds = 30, long bytesPerRound = 8L << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(messageSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        int messages = (int)Math.Max(1, bytesPerRound / messageSize);
        long bytes = (long)messages * messageSize;

        var (tcpClient, tcpServer) = TcpPair();
        using var _ = tcpClient;
        using var __ = tcpServer;
        var options = new IwarpConnectionOptions { Progress = ProgressMode.Inline };
        var serverReceives = new Receives[2];
        var clientReceives = new Receives[2];
        var pairs = new[] { false, true }.Select((crc, i) =>
        {
            var setup = new IwarpSetupOptions { Crc = crc ? CrcPolicy.Required : CrcPolicy.Off };
            return IwarpPair(options, options, server => serverReceives[i] = new Receives(server, 1), client => clientReceives[i] = new Receives(client, 1), setup);
        }).ToArray();
        try
        {
            var regions = pairs.Select(p => p.Server.RegisterMemory(new byte[messageSize], MemoryAccess.RemoteWrite)).ToArray();
            byte[] payload = new byte[messageSize];
            new Random(7).NextBytes(payload);

            var tcpSink = new Thread(() => TcpSink(tcpServer, bytes, rounds + 1)) { IsBackground = true, Name = "bench-tcp-sink" };
            tcpSink.Start();
            var sinks = serverReceives.Select(r => new Thread(() => IwarpEcho(r, 1)) { IsBackground = true, Name = "bench-iwarp-sink" }).ToArray();
            foreach (Thread sink in sinks)
            {
                sink.Start();
            }

            var tcp = new double[rounds];
            var iwarp = new double[2][] { new double[rounds], new double[rounds] };
            for (int round = -1; round < rounds; round++)
            {
                double t = TcpStream(tcpClient, payload, messages, bytes);
                double[] w = [IwarpStream(clientReceives[0], regions[0], payload, messages, bytes), IwarpStream(clientReceives[1], regions[1], payload, messages, bytes)];
                if (round >= 0)
                {
                    tcp[round] = t;
                    iwarp[0][round] = w[0];
                    iwarp[1][round] = w[1];
                }
            }
            tcpSink.Join(Wait);
            foreach (var pair in pairs)
            {
                pair.Client.Dispose();
            }
            foreach (Thread sink in sinks)
            {
                sink.Join(Wait);
            }
            var tcpRounds = new ThroughputRounds("tcp", tcp);
            return
            [
                new StreamingResult(messageSize, false, tcpRounds, new ThroughputRounds("iwarp crc off", iwarp[0])),
                new StreamingResult(messageSize, true, tcpRounds, new ThroughputRounds("iwarp crc on", iwarp[1])),
            ];
        }
        finally
        {
            foreach (var pair in pairs)
            {
                pair.Dispose();
            }
        }
    }

    private static double TcpStream(Socket socket, byte[] payload, int messages, long bytes)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < messages; i++)
        {
            socket.Send(payload);
        }
        Span<byte> ack = stackalloc byte[1];
        if (socket.Receive(ack) != 1)
        {
            throw new EndOfStreamException("raw TCP sink closed");
        }
        return bytes / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
    }

    private static void TcpSink(Socket socket, long bytes, int rounds)
    {
        byte[] buffer = new byte[256 * 1024];
        for (int round = 0; round < rounds; round++)
        {
            for (long got = 0; got < bytes;)
            {
                int n = socket.Receive(buffer, 0, (int)Math.Min(buffer.Length, bytes - got), SocketFlags.None);
                if (n == 0)
                {
                    return;
                }
                got += n;
            }
            socket.Send(buffer.AsSpan(0, 1));
        }
    }

    private static double IwarpStream(Receives client, MemoryRegion target, byte[] payload, int messages, long bytes)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < messages; i++)
        {
            client.Connection.PostWrite(0, (ReadOnlyMemory<byte>)payload, target.STag, target.BaseTO, PostFlags.None);
        }
        client.Connection.PostSend(0, payload.AsSpan(0, 1), PostFlags.None);
        client.Next();
        return bytes / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
    }

    private static (Socket Client, Socket Server) TcpPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        Socket server = listener.Accept();
        server.NoDelay = true;
        return (client, server);
    }

    private sealed class Pair(IwarpListener listener, IwarpConnection client, IwarpConnection server) : IDisposable
    {
        public IwarpConnection Client { get; } = client;

        public IwarpConnection Server { get; } = server;

        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
            listener.Dispose();
        }
    }

    private static Pair IwarpPair(IwarpConnectionOptions clientOptions, IwarpConnectionOptions serverOptions,
        Action<IwarpConnection> prepareServer, Action<IwarpConnection> prepareClient, IwarpSetupOptions? setup = null)
    {
        var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0), setup);
        var client = new IwarpConnection(clientOptions);
        var server = new IwarpConnection(serverOptions);
        try
        {
            prepareClient(client);
            Task<NegotiatedParameters> connect = client.ConnectAsync(listener.LocalEndPoint, setup);
            IwarpConnectionRequest request = listener.AcceptAsync().WaitAsync(Wait).GetAwaiter().GetResult();
            prepareServer(server);
            request.Accept(server);
            connect.WaitAsync(Wait).GetAwaiter().GetResult();
            return new Pair(listener, client, server);
        }
        catch
        {
            client.Dispose();
            server.Dispose();
            listener.Dispose();
            throw;
        }
    }
}
