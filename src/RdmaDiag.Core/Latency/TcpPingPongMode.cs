using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RdmaDiag.Latency;

/// <summary>
/// `latency tcp`: raw TCP ping-pong (TCP_NODELAY) against a <see cref="LatencyResponder"/>. One
/// sample is half a round trip, as perftest and sockperf report. Without HOST a responder is started
/// in-process on loopback.
/// </summary>
public sealed class TcpPingPongMode : ILatencyMode
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    public string Name => "tcp";

    public string Description => "TCP ping-pong (TCP_NODELAY) against a latency responder; sample = RTT/2";

    public int MaxMessageSize(LatencyRunSettings settings) => TcpPingPongProtocol.MaxMessageSize;

    public ILatencySession Open(LatencyRunSettings settings)
    {
        var notes = new List<string>();
        var (local, target) = LatencyResponder.ForRun(settings, Name, notes);
        try
        {
            var socket = Connect(settings.Host ?? "loopback", target, settings.BusyPoll);
            notes.Add(settings.BusyPoll ? "tcp: busy-poll (non-blocking spin) on both ends" : "tcp: blocking receive on both ends");
            return new Session(socket, local, settings, notes);
        }
        catch
        {
            local?.Dispose();
            throw;
        }
    }

    internal static Socket Connect(string host, IPEndPoint target, bool busyPoll)
    {
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            ConnectBlocking(socket, host, target);
            Span<byte> hello = stackalloc byte[TcpPingPongProtocol.HelloLength];
            TcpPingPongProtocol.WriteHello(hello, busyPoll ? TcpPingPongProtocol.FlagBusyPoll : 0);
            socket.ReceiveTimeout = (int)ConnectTimeout.TotalMilliseconds;
            try
            {
                SocketIo.SendAll(socket, hello);
                SocketIo.ReceiveExactly(socket, hello);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                throw new UserInputException($"{host} ({target}): accepted the connection but did not answer the tcp latency hello ({e.Message}); it is not an rdmadiag responder");
            }
            if (!TcpPingPongProtocol.TryReadReply(hello, out var status, out _))
            {
                throw new UserInputException($"{host} ({target}): answered something other than the tcp latency hello; it is not an rdmadiag responder");
            }
            if (status != TcpPingPongProtocol.StatusOk)
            {
                throw new UserInputException($"{host} ({target}): the responder refused protocol version {TcpPingPongProtocol.Version} (status {status})");
            }
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A synchronous connect, bounded by closing the socket when the timeout fires. ConnectAsync would
    /// leave the descriptor non-blocking for good, and every later "blocking" receive would then be
    /// emulated through the runtime's epoll thread: a thread hop inside each measured round trip.
    /// </summary>
    private static void ConnectBlocking(Socket socket, string host, IPEndPoint target)
    {
        const int Connecting = 0, Connected = 1, TimedOut = 2;
        var state = Connecting;
        using var timer = new Timer(_ =>
        {
            if (Interlocked.CompareExchange(ref state, TimedOut, Connecting) == Connecting)
            {
                socket.Dispose();
            }
        }, null, ConnectTimeout, Timeout.InfiniteTimeSpan);
        try
        {
            socket.Connect(target);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            if (Interlocked.CompareExchange(ref state, Connected, Connecting) == TimedOut)
            {
                throw new UserInputException($"{host} ({target}): no answer to a TCP connect within {ConnectTimeout.TotalSeconds:0} s; is the host up and `rdmadiag serve` running there?");
            }
            throw new UserInputException($"{host} ({target}): cannot connect: {e.Message}; is `rdmadiag serve` (the latency responder) running there?");
        }
        if (Interlocked.CompareExchange(ref state, Connected, Connecting) == TimedOut)
        {
            throw new UserInputException($"{host} ({target}): the TCP connect took longer than {ConnectTimeout.TotalSeconds:0} s");
        }
    }

    private sealed class Session(Socket socket, LatencyResponder? local, LatencyRunSettings settings, List<string> notes) : ILatencySession
    {
        public IReadOnlyList<string> Notes => notes;

        public IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan)
        {
            var send = GC.AllocateArray<byte>(size, pinned: true);
            var receive = GC.AllocateArray<byte>(size, pinned: true);
            for (var i = 0; i < size; i++)
            {
                send[i] = (byte)(i * 31 + 7);
            }
            socket.Blocking = !settings.BusyPoll;
            socket.ReceiveTimeout = (int)settings.ReplyTimeout.TotalMilliseconds;
            var timeoutTicks = (long)(settings.ReplyTimeout.TotalSeconds * Stopwatch.Frequency);

            long sequence = 0;
            var recorder = plan.Measure(() => Once(send, receive, ++sequence, timeoutTicks), 2);
            return [new LatencySeries("tcp", "", size, "rtt/2", recorder)];
        }

        private void Once(byte[] send, byte[] receive, long sequence, long timeoutTicks)
        {
            // A sequence number in the first bytes proves each reply answers this request.
            if (send.Length >= 8)
            {
                BinaryPrimitives.WriteInt64LittleEndian(send, sequence);
            }
            if (settings.BusyPoll)
            {
                SocketIo.ExchangeSpinning(socket, send, receive, timeoutTicks);
            }
            else
            {
                SocketIo.ExchangeBlocking(socket, send, receive);
            }
            if (send.Length >= 8 && BinaryPrimitives.ReadInt64LittleEndian(receive) != sequence)
            {
                throw new IOException($"tcp ping-pong: reply {BinaryPrimitives.ReadInt64LittleEndian(receive)} answers no request (expected {sequence})");
            }
        }

        public void Dispose()
        {
            socket.Dispose();
            local?.Dispose();
        }
    }
}
