using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Native;

namespace RdmaDiag.Latency;

/// <summary>
/// `latency rx-stamp`: how long a received packet waits between the kernel's receive timestamp and the
/// moment user space holds it. Each iteration sends a request to a <see cref="LatencyResponder"/> (in
/// process on loopback unless HOST is given) and receives its echo with SO_TIMESTAMPING on; a sample
/// is clock_gettime(CLOCK_REALTIME) read right after recvmsg minus the kernel's stamp of the echo.
/// Both clocks are CLOCK_REALTIME (Stopwatch is never mixed in). UDP and TCP, software stamps always,
/// hardware stamps where the NIC delivers them.
/// </summary>
public sealed class RxStampMode : ILatencyMode
{
    /// <summary>The largest UDP payload over IPv4; TCP messages keep the same limit so one echo always
    /// fits the receive buffer while the request is still being written.</summary>
    public const int MaxMessage = 65507;

    public string Name => "rx-stamp";

    public string Description => "kernel receive timestamp to user space (SO_TIMESTAMPING), UDP and TCP";

    public int MaxMessageSize(LatencyRunSettings settings) => MaxMessage;

    public ILatencySession Open(LatencyRunSettings settings)
    {
        var notes = new List<string>();
        var (local, target) = LatencyResponder.ForRun(settings, Name, notes);
        var sockets = new List<Socket>();
        try
        {
            var flags = settings.Timestamps switch
            {
                TimestampSource.Software => Interop.Libc.SOF_TIMESTAMPING_RX_SOFTWARE | Interop.Libc.SOF_TIMESTAMPING_SOFTWARE,
                TimestampSource.Hardware => Interop.Libc.SOF_TIMESTAMPING_RX_HARDWARE | Interop.Libc.SOF_TIMESTAMPING_RAW_HARDWARE,
                _ => KernelTimestamping.RxFlags,
            };
            Socket? udp = null;
            Socket? tcp = null;
            if (settings.Transports.HasFlag(RxStampTransports.Udp))
            {
                udp = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                sockets.Add(udp);
                udp.Connect(target);
            }
            if (settings.Transports.HasFlag(RxStampTransports.Tcp))
            {
                tcp = TcpPingPongMode.Connect(settings.Host ?? "loopback", target, busyPoll: false);
                sockets.Add(tcp);
            }
            var localAddress = ((IPEndPoint)sockets[0].LocalEndPoint!).Address;
            var nic = KernelTimestamping.Query(KernelTimestamping.InterfaceFor(localAddress, target.Address));
            notes.Add(nic.Describe());
            if (settings.Timestamps == TimestampSource.Hardware && !(nic.HardwareRx && nic.HardwareRxFilterOn))
            {
                throw new UserInputException($"--timestamps hw: {nic.Describe()}; hardware receive timestamps are not available on this path");
            }
            foreach (var socket in sockets)
            {
                KernelTimestamping.Enable(socket, flags);
                socket.Blocking = true;
                KernelTimestamping.SetReceiveTimeout(socket, settings.ReplyTimeout);
            }
            notes.Add(settings.BusyPoll ? "rx-stamp: busy-poll (recvmsg MSG_DONTWAIT spin)" : "rx-stamp: blocking recvmsg");
            return new Session(udp, tcp, local, nic, settings, notes);
        }
        catch
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
            local?.Dispose();
            throw;
        }
    }

    private sealed class Session : ILatencySession
    {
        private readonly StampedReceiver? _udp;
        private readonly StampedReceiver? _tcp;
        private readonly LatencyResponder? _local;
        private readonly InterfaceTimestamping _nic;
        private readonly LatencyRunSettings _settings;
        private readonly List<string> _notes;
        private long _sequence;

        public Session(Socket? udp, Socket? tcp, LatencyResponder? local, InterfaceTimestamping nic, LatencyRunSettings settings, List<string> notes)
        {
            _udp = udp is null ? null : new StampedReceiver(udp);
            _tcp = tcp is null ? null : new StampedReceiver(tcp);
            _local = local;
            _nic = nic;
            _settings = settings;
            _notes = notes;
        }

        public IReadOnlyList<string> Notes => _notes;

        public IReadOnlyList<LatencySeries> Measure(int size, SamplePlan plan)
        {
            var series = new List<LatencySeries>();
            if (_udp is not null)
            {
                series.AddRange(MeasureTransport("udp", _udp, size, plan));
            }
            if (_tcp is not null)
            {
                series.AddRange(MeasureTransport("tcp", _tcp, size, plan));
            }
            return series;
        }

        private IEnumerable<LatencySeries> MeasureTransport(string transport, StampedReceiver receiver, int size, SamplePlan plan)
        {
            var send = GC.AllocateArray<byte>(size, pinned: true);
            var receive = GC.AllocateArray<byte>(size, pinned: true);
            send.AsSpan().Fill(0x5a);
            var software = plan.CreateRecorder();
            var hardware = plan.CreateRecorder();
            var tally = new Tally();
            var timeoutTicks = (long)(_settings.ReplyTimeout.TotalSeconds * Stopwatch.Frequency);
            var stream = transport == "tcp";

            // The kernel switches receive stamping on through deferred work (net_enable_timestamp), late
            // on a busy host: warm up until stamps flow, within a bound, so no measured echo misses one.
            var warmupEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3;
            var stamped = false;
            for (var i = 0; i < plan.Warmup || (!stamped && Stopwatch.GetTimestamp() < warmupEnd); i++)
            {
                Once(receiver, stream, send, receive, timeoutTicks, out _, out var warm);
                stamped |= !warm.IsEmpty;
            }
            var deadline = plan.DeadlineTicks(Stopwatch.GetTimestamp());
            for (long i = 0; i < plan.Iterations; i++)
            {
                if (!Once(receiver, stream, send, receive, timeoutTicks, out var userNs, out var stamps))
                {
                    tally.Lost++;
                }
                else
                {
                    Take(software, userNs, stamps.Software, ref tally.NoSoftware, ref tally.ClockSteps);
                    Take(hardware, userNs, stamps.Hardware, ref tally.NoHardware, ref tally.ClockSteps);
                }
                if (Stopwatch.GetTimestamp() >= deadline)
                {
                    break;
                }
            }

            var label = $"rx-stamp {transport} {LatencySeries.FormatSize(size)}";
            var wantSoftware = _settings.Timestamps != TimestampSource.Hardware;
            var wantHardware = _settings.Timestamps == TimestampSource.Hardware;
            var received = software.Count + tally.NoSoftware;
            if (wantSoftware && software.Count == 0)
            {
                throw new UserInputException($"{label}: {received} echoes arrived on {_nic.Interface} and none carried a kernel software receive timestamp (SO_TIMESTAMPING); no timestamp support on this path");
            }
            if (wantHardware && hardware.Count == 0)
            {
                throw new UserInputException($"{label}: {received} echoes arrived on {_nic.Interface} and none carried a hardware receive timestamp; {_nic.Describe()}");
            }
            if (tally.Lost + tally.ClockSteps + (wantSoftware ? tally.NoSoftware : 0) > 0)
            {
                _notes.Add($"{label}: {tally.Lost} lost, {(wantSoftware ? tally.NoSoftware : tally.NoHardware)} without a stamp, {tally.ClockSteps} negative (CLOCK_REALTIME stepped)");
            }
            var result = new List<LatencySeries>();
            if (wantSoftware)
            {
                result.Add(new LatencySeries("rx-stamp", $"{transport} sw", size, "kernel→user", software) { Dropped = tally.Lost + tally.NoSoftware });
            }
            if (hardware.Count > 0 || wantHardware)
            {
                result.Add(new LatencySeries("rx-stamp", $"{transport} hw", size, "kernel→user", hardware) { Dropped = tally.Lost + tally.NoHardware });
            }
            return result;
        }

        private static void Take(LatencyRecorder recorder, long userNs, long kernelNs, ref long missing, ref long clockSteps)
        {
            if (kernelNs == 0)
            {
                missing++;
                return;
            }
            var latency = userNs - kernelNs;
            if (latency < 0)
            {
                clockSteps++;
                return;
            }
            recorder.Record(latency);
        }

        /// <summary>One request and its echo. False when the echo did not come within the reply timeout.</summary>
        private bool Once(StampedReceiver receiver, bool stream, byte[] send, byte[] receive, long timeoutTicks, out long userNs, out KernelTimestamps stamps)
        {
            var sequence = ++_sequence;
            if (send.Length >= 8)
            {
                BinaryPrimitives.WriteInt64LittleEndian(send, sequence);
            }
            SocketIo.SendAll(receiver.Socket, send);
            var got = 0;
            userNs = 0;
            stamps = default;
            long deadline = 0;
            var spins = 0;
            while (got < receive.Length)
            {
                var n = receiver.Receive(receive.AsSpan(stream ? got : 0), _settings.BusyPoll, out var now, out var these);
                if (n == -Interop.Libc.EAGAIN)
                {
                    if (!_settings.BusyPoll)
                    {
                        return stream ? throw StreamStalled(receiver) : false;
                    }
                    if (++spins % 4096 == 0)
                    {
                        var t = Stopwatch.GetTimestamp();
                        if (deadline == 0)
                        {
                            deadline = t + timeoutTicks;
                        }
                        else if (t > deadline)
                        {
                            return stream ? throw StreamStalled(receiver) : false;
                        }
                    }
                    continue;
                }
                if (n == -Interop.Libc.EINTR)
                {
                    continue;
                }
                if (n < 0)
                {
                    throw Interop.Libc.Error($"recvmsg from {receiver.Socket.RemoteEndPoint}", -n);
                }
                if (n == 0 && stream)
                {
                    throw new IOException($"{receiver.Socket.RemoteEndPoint} closed the connection");
                }
                if (!stream && send.Length >= 8 && (n < 8 || BinaryPrimitives.ReadInt64LittleEndian(receive) != sequence))
                {
                    // A late echo of an earlier, timed-out request: not this one.
                    continue;
                }
                got = stream ? got + n : receive.Length;
                userNs = now;
                if (!these.IsEmpty)
                {
                    stamps = these;
                }
            }
            return true;
        }

        // A TCP echo that missed its deadline would arrive inside the next message: the run cannot go on.
        private TimeoutException StreamStalled(StampedReceiver receiver) =>
            new($"rx-stamp tcp: no echo from {receiver.Socket.RemoteEndPoint} within {_settings.ReplyTimeout.TotalSeconds:0.#} s");

        public void Dispose()
        {
            foreach (var receiver in new[] { _udp, _tcp })
            {
                if (receiver is not null)
                {
                    receiver.Dispose();
                    receiver.Socket.Dispose();
                }
            }
            _local?.Dispose();
        }

        private struct Tally
        {
            public long Lost;
            public long NoSoftware;
            public long NoHardware;
            public long ClockSteps;
        }
    }
}
