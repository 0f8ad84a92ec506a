using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using RdmaDiag.Diagnostics.Check.Route;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Verbs;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>
/// Runs the probe ladder of <c>rdmadiag check</c>: name resolution, route, TCP connect, MPA exchange, RDMA
/// operations (small, then large), teardown; captures its own traffic meanwhile; and hands what it saw to
/// <see cref="VerdictRules"/>. Every wait is bounded by its stage timeout and by the run's total budget.
/// </summary>
/// <remarks>
/// Sockets, the capture and the route lookup are all created on the calling thread, so a caller that has
/// joined a network namespace (setns on its thread) checks from inside it.
/// </remarks>
public static class CheckRunner
{
    /// <summary>Runs a check. Throws <see cref="UserInputException"/> for bad options or a host that does not resolve.</summary>
    public static CheckReport Run(CheckOptions options)
    {
        options.Validate();
        var run = new Execution(options);
        return run.Execute();
    }

    private sealed class Stage(string name, TimeSpan timeout)
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private TimeSpan? _elapsed;

        public string Name { get; } = name;
        public TimeSpan Timeout { get; set; } = timeout;
        public StageStatus Status { get; set; } = StageStatus.Ok;
        public List<string> Evidence { get; } = [];
        public TimeSpan Elapsed
        {
            get => _elapsed ?? Stopwatch.GetElapsedTime(_start);
            set => _elapsed = value;
        }

        public void End() => _elapsed ??= Stopwatch.GetElapsedTime(_start);

        public StageResult ToResult() => new(Name, Status, Elapsed, Timeout, Evidence);

        public static Stage Skipped(string name, string why) => new(name, TimeSpan.Zero) { Status = StageStatus.Skipped, Elapsed = TimeSpan.Zero, Evidence = { why } };
    }

    private sealed class Execution(CheckOptions options)
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly CheckTimeouts _timeouts = options.Timeouts;
        private readonly List<Stage> _stages = [];
        private CheckObservations _o = null!;
        private MpaStartFrame? _request;

        private TimeSpan Left => _timeouts.Total - Stopwatch.GetElapsedTime(_start);

        /// <summary>A stage's timeout cut to what is left of the run's budget (at least 1 ms, so waits stay positive).</summary>
        private TimeSpan Bounded(TimeSpan timeout) => TimeSpan.FromMilliseconds(Math.Max(1, Math.Min(timeout.TotalMilliseconds, Left.TotalMilliseconds)));

        public CheckReport Execute()
        {
            IPEndPoint target = Resolve();
            _o = new CheckObservations { Target = target, Setup = options.Setup, LocalAddresses = LocalAddresses() };
            if (!RouteStage())
            {
                SkipFrom(StageNames.TcpConnect, "no route to the server");
                return Report(target);
            }
            CheckCapture? capture = null;
            if (options.Capture)
            {
                capture = CheckCapture.TryStart(target, out string? unavailable);
                _o.CaptureUnavailable = unavailable;
            }
            else
            {
                _o.CaptureUnavailable = "--no-capture was given";
            }
            try
            {
                Probe(target);
            }
            finally
            {
                if (capture is not null)
                {
                    _o.Capture = capture.Stop(TimeSpan.FromMilliseconds(300));
                    capture.Dispose();
                }
            }
            return Report(target);
        }

        private CheckReport Report(IPEndPoint target)
        {
            AddCaptureEvidence();
            CheckVerdict verdict = VerdictRules.Decide(_o);
            return new CheckReport
            {
                Host = options.Host,
                Target = target,
                Verdict = verdict,
                Stages = _stages.Select(s => s.ToResult()).ToList(),
                Parameters = _o.Parameters,
                Request = _request,
                PeerFrame = _o.SetupError?.PeerFrame,
                Operations = _o.Operations,
                Capture = _o.Capture,
                CaptureUnavailable = _o.CaptureUnavailable,
                Elapsed = Stopwatch.GetElapsedTime(_start),
            };
        }

        // ---- resolve and route ----

        private IPEndPoint Resolve()
        {
            var stage = Begin(StageNames.Resolve, _timeouts.Resolve);
            string host = options.Host.Trim().TrimStart('[').TrimEnd(']');
            if (IPAddress.TryParse(host, out IPAddress? literal))
            {
                stage.Evidence.Add($"{literal} is an address; nothing to resolve");
                return Done(stage, new IPEndPoint(literal, options.Port));
            }
            IPAddress[]? addresses = null;
            Exception? failure = null;
            // A thread of its own bounds getaddrinfo, which cannot be cancelled; it inherits this thread's namespace.
            var resolver = new Thread(() =>
            {
                try
                {
                    addresses = Dns.GetHostAddresses(host);
                }
                catch (Exception e) when (e is SocketException or ArgumentException)
                {
                    failure = e;
                }
            }) { IsBackground = true, Name = "check-resolve" };
            resolver.Start();
            if (!resolver.Join(stage.Timeout))
            {
                throw new UserInputException($"HOST '{options.Host}' did not resolve within {stage.Timeout.TotalSeconds:0.#} s (is a DNS server reachable?); give an IP address or a name in /etc/hosts");
            }
            if (failure is not null || addresses is not { Length: > 0 })
            {
                throw new UserInputException($"HOST '{options.Host}' does not resolve ({failure?.Message ?? "no address"}); expected a host name or an IP address of the server");
            }
            IPAddress chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
            stage.Evidence.Add($"{host} → {string.Join(", ", addresses.Select(a => a.ToString()))}{(addresses.Length > 1 ? $"; using {chosen}" : "")}");
            return Done(stage, new IPEndPoint(chosen, options.Port));
        }

        private static IReadOnlyList<IPAddress> LocalAddresses()
        {
            try
            {
                return NetworkInterface.GetAllNetworkInterfaces()
                    .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => u.Address))
                    .ToList();
            }
            catch (NetworkInformationException)
            {
                return [];
            }
        }

        private bool RouteStage()
        {
            var stage = Begin(StageNames.Route, _timeouts.Route);
            try
            {
                (_o.Route, _o.RouteFailure) = RouteLookup.Lookup(_o.Target.Address, stage.Timeout);
            }
            catch (IOException e)
            {
                stage.Evidence.Add($"the kernel's route could not be read ({e.Message}); going on without it");
                Done(stage, 0);
                return true;
            }
            if (_o.RouteFailure is { } failure)
            {
                stage.Status = StageStatus.Failed;
                stage.Evidence.Add(failure.ToString());
                Done(stage, 0);
                return false;
            }
            RouteInfo route = _o.Route!;
            stage.Evidence.Add(route.ToString());
            if (route.Interface is { } name)
            {
                try
                {
                    _o.Devices = RouteLookup.DevicesOn(options.DeviceHost, name);
                }
                catch (IOException e)
                {
                    stage.Evidence.Add($"RDMA devices could not be read ({e.Message})");
                }
                stage.Evidence.Add(_o.Devices.Count == 0
                    ? $"no RDMA device is bound to {name}"
                    : $"RDMA device{(_o.Devices.Count == 1 ? "" : "s")} on {name}: {string.Join(", ", _o.Devices)}");
            }
            Done(stage, 0);
            return true;
        }

        // ---- connect, MPA, operations, teardown ----

        private void Probe(IPEndPoint target)
        {
            if (options.Rping is not null || options.Verbs)
            {
                ProbeTransport(target, options.Rping ?? new RpingCheck());
                return;
            }
            int maxSize = options.Sizes.Max();
            using var connection = new IwarpConnection();
            var probe = new ProbeClient(connection, _timeouts.Operation, maxSize);
            var tcp = Begin(StageNames.TcpConnect, Bounded(_timeouts.Connect));
            var mpa = new Stage(StageNames.MpaExchange, Bounded(_timeouts.Mpa));
            IwarpSetupOptions setup = options.Setup with { ConnectTimeout = tcp.Timeout, HandshakeTimeout = mpa.Timeout };
            _request = MpaNegotiation.BuildRequest(setup, options.PrivateData);
            long connectStart = Stopwatch.GetTimestamp();
            try
            {
                _o.Parameters = connection.Connect(target, setup, options.PrivateData);
            }
            catch (IwarpException e)
            {
                _o.SetupError = e;
            }
            if (TcpFailed(tcp, mpa, connectStart))
            {
                return;
            }
            _o.ClientPort = (connection.LocalEndPoint as IPEndPoint)?.Port;
            tcp.Evidence.Add(_o.ClientPort is not null ? $"established {connection.LocalEndPoint} → {target}" : $"established to {target}");
            mpa.Evidence.Add($"sent: {_request}");
            if (_o.SetupError is { } setupError)
            {
                MpaFailed(mpa, setupError);
                RetryRevisionOne(target, setupError, mpa);
                SkipFrom(StageNames.RdmaOps, "MPA setup failed");
                return;
            }
            NegotiatedParameters parameters = _o.Parameters!;
            mpa.Evidence.Add($"received: {parameters.Reply}");
            mpa.Evidence.Add($"negotiated: {parameters}");

            Operations(connection, probe, parameters);
            Teardown(connection);
        }

        /// <summary>
        /// Ends the tcp-connect and mpa-exchange stages of one connect call (both take its time until the capture
        /// tells them apart); puts a failure in the TCP phase into them (with the next hop's ARP state when
        /// unreachable) and returns true, or false when TCP got through.
        /// </summary>
        private bool TcpFailed(Stage tcp, Stage mpa, long connectStart)
        {
            TimeSpan connectElapsed = Stopwatch.GetElapsedTime(connectStart);
            tcp.Elapsed = connectElapsed;
            mpa.Elapsed = connectElapsed;
            _stages.Add(mpa);
            if (_o.SetupError is not { Phase: ConnectionPhase.TcpConnect } tcpError)
            {
                return false;
            }
            tcp.Status = StageStatus.Failed;
            tcp.Evidence.Add(tcpError.Message);
            if (tcpError.Kind == IwarpErrorKind.TcpUnreachable && _o.Route is { } route && route.NextHop.AddressFamily == AddressFamily.InterNetwork)
            {
                _o.NextHopState = RouteLookup.NeighbourState(route.NextHop);
                tcp.Evidence.Add($"ARP entry of the next hop {route.NextHop}: {_o.NextHopState ?? "none"}");
            }
            mpa.Status = StageStatus.Skipped;
            mpa.Elapsed = TimeSpan.Zero;
            mpa.Timeout = TimeSpan.Zero;
            mpa.Evidence.Add("the TCP connection was not established");
            SkipFrom(StageNames.RdmaOps, "the TCP connection was not established");
            return true;
        }

        private static void MpaFailed(Stage mpa, IwarpException error)
        {
            mpa.Status = StageStatus.Failed;
            if (error.PeerFrame is { } frame)
            {
                mpa.Evidence.Add($"received: {frame}");
            }
            mpa.Evidence.Add($"{error.Kind}: {error.Message}");
        }

        /// <summary>
        /// rping's protocol over the userspace endpoint or rdma_cm (ClientConnector): the same stages as the probe
        /// protocol, with the pings in rdma-ops. rdma_cm does TCP and MPA inside one call, so a setup failure is
        /// placed by its phase.
        /// </summary>
        private void ProbeTransport(IPEndPoint target, RpingCheck rping)
        {
            var tcp = Begin(StageNames.TcpConnect, Bounded(_timeouts.Connect));
            var mpa = new Stage(StageNames.MpaExchange, Bounded(_timeouts.Mpa));
            IwarpSetupOptions setup = options.Setup with { ConnectTimeout = tcp.Timeout, HandshakeTimeout = mpa.Timeout };
            ClientConnector connector = options.Verbs
                ? ClientConnector.Verbs(VerbsOptions.Rping with { ConnectTimeout = tcp.Timeout + mpa.Timeout, PrivateData = options.PrivateData.ToArray() })
                : ClientConnector.Soft(setup, options.PrivateData);
            if (!options.Verbs)
            {
                _request = MpaNegotiation.BuildRequest(setup, options.PrivateData);
            }
            IRdmaTransport? transport = null;
            RpingClient? client = null;
            string? inForce = null;
            long connectStart = Stopwatch.GetTimestamp();
            try
            {
                transport = connector.Prepare(target);
                client = new RpingClient(transport, rping.Size, _timeouts.Operation);
                inForce = connector.Connect(transport);
            }
            catch (IwarpException e)
            {
                _o.SetupError = e;
            }
            catch (VerbsUnavailableException e)
            {
                client?.Dispose();
                transport?.Dispose();
                throw new UserInputException($"--verbs: {e.Message}");
            }
            try
            {
                if (TcpFailed(tcp, mpa, connectStart))
                {
                    return;
                }
                _o.ClientPort = (transport?.LocalEndPoint as IPEndPoint)?.Port;
                tcp.Evidence.Add(_o.ClientPort is not null ? $"established {transport!.LocalEndPoint} → {target}" : $"established to {target} ({connector.Name})");
                if (_request is not null)
                {
                    mpa.Evidence.Add($"sent: {_request}");
                }
                else
                {
                    mpa.Evidence.Add("rdma_cm: the kernel's iWARP driver sends the MPA Request and negotiates");
                }
                if (_o.SetupError is { } setupError)
                {
                    MpaFailed(mpa, setupError);
                    SkipFrom(StageNames.RdmaOps, "MPA setup failed");
                    return;
                }
                if (transport is SoftTransport soft)
                {
                    _o.Parameters = soft.Connection.Parameters;
                    mpa.Evidence.Add($"received: {_o.Parameters?.Reply}");
                }
                else
                {
                    _o.KernelConnection = inForce;
                }
                mpa.Evidence.Add($"negotiated: {inForce}");
                Pings(transport!, client!, rping);
            }
            finally
            {
                client?.Dispose();
                transport?.Dispose();
            }
        }

        private void Pings(IRdmaTransport transport, RpingClient client, RpingCheck rping)
        {
            var stage = Begin(StageNames.RdmaOps, _timeouts.Operation);
            stage.Evidence.Add($"rping protocol: {rping.Count} ping(s) of {rping.Size} octets over {transport.Name}");
            for (int ping = 0; ping < rping.Count; ping++)
            {
                ProbeResult? result;
                try
                {
                    result = client.Ping(ping);
                }
                catch (Exception e) when (e is IwarpException or InvalidDataException)
                {
                    IwarpException? error = transport.Error ?? e as IwarpException;
                    stage.Status = StageStatus.Failed;
                    stage.Evidence.Add($"ping {ping}: {(error is null ? e.Message : $"{error.Kind}: {error.Message}")}");
                    _o.Failure = new OperationFailure("rping", rping.Size, stage.Name, error, error?.Message ?? e.Message, error is null);
                    break;
                }
                _o.Operations.Add(result);
                stage.Evidence.Add($"ping {ping}: {(result.Verified ? "verified" : "NOT verified")} in {Ms(result.Elapsed)} ms (\"{client.LastData}\"){(result.Verified ? "" : $": {result.Detail}")}");
                if (!result.Verified)
                {
                    stage.Status = StageStatus.Failed;
                    _o.Failure = new OperationFailure("rping", rping.Size, stage.Name, transport.Error, result.Detail);
                    break;
                }
            }
            Done(stage, 0);
            _stages.Add(Stage.Skipped(StageNames.LargeMessages, "rping's protocol runs its pings in rdma-ops"));
            if (_o.Failure is not null)
            {
                _stages.Add(Stage.Skipped(StageNames.Teardown, $"the connection failed: {transport.Error?.Kind.ToString() ?? "data not verified"}"));
                return;
            }
            var teardown = Begin(StageNames.Teardown, Bounded(_timeouts.Teardown));
            transport.Close();
            teardown.Evidence.Add($"closed after {rping.Count} verified ping(s)");
            Done(teardown, 0);
        }

        /// <summary>
        /// A responder without RFC 6581 support closes on an enhanced Request (RFC 6581 §3.1); cxgb4 then retries
        /// with Rev 1. Doing the same tells such a responder from a port with no MPA at all.
        /// </summary>
        private void RetryRevisionOne(IPEndPoint target, IwarpException error, Stage mpa)
        {
            if (error.Kind is not (IwarpErrorKind.ConnectionClosed or IwarpErrorKind.ConnectionReset) || error.BytesReceived > 0
                || options.Setup.MpaRevision < 2 || Left < TimeSpan.FromMilliseconds(100))
            {
                return;
            }
            var setup = options.Setup with
            {
                MpaRevision = 1,
                PeerToPeer = RtrTypes.None,
                ConnectTimeout = Bounded(_timeouts.Connect),
                HandshakeTimeout = Bounded(_timeouts.Mpa),
            };
            using var retry = new IwarpConnection();
            try
            {
                NegotiatedParameters p = retry.Connect(target, setup, options.PrivateData);
                _o.RevisionOneAnswered = true;
                _o.RevisionRetryDetail = $"a Rev 1 Request was accepted: {p.Reply}";
                retry.Close();
            }
            catch (IwarpException e)
            {
                _o.RevisionOneAnswered = e.PeerFrame is not null;
                _o.RevisionRetryDetail = e.PeerFrame is { } frame ? $"a Rev 1 Request was answered: {frame}" : $"{e.Kind}: {e.Message}";
            }
            mpa.Evidence.Add($"retry with MPA Rev 1: {_o.RevisionRetryDetail}");
        }

        private void Operations(IwarpConnection connection, ProbeClient probe, NegotiatedParameters parameters)
        {
            var small = Begin(StageNames.RdmaOps, _timeouts.Operation);
            ProbeAdvert? advert = Step(small, connection, "hello", 0, () =>
            {
                ProbeAdvert a = probe.Hello();
                small.Evidence.Add($"hello: the server advertises a {a.Length}-octet region (STag 0x{a.STag:X8}) and Sends up to {a.MaxEcho} octets (probe protocol v{a.Version})");
                return a;
            });
            bool ok = advert is not null && RunSizes(small, connection, probe, parameters, advert, options.SmallSizes);
            Done(small, 0);
            if (!ok)
            {
                _stages.Add(Stage.Skipped(StageNames.LargeMessages, "an operation in rdma-ops failed"));
                MaybePathProbe(small);
                return;
            }
            if (!options.LargeSizes.Any())
            {
                _stages.Add(Stage.Skipped(StageNames.LargeMessages, $"no size above {CheckOptions.SmallSizeLimit} octets in --sizes"));
                return;
            }
            var large = Begin(StageNames.LargeMessages, _timeouts.Operation);
            ok = RunSizes(large, connection, probe, parameters, advert!, options.LargeSizes);
            Done(large, 0);
            if (!ok)
            {
                MaybePathProbe(large);
            }
        }

        /// <summary>Send, Write and Read at each size; false at the first failure (recorded in the observations).</summary>
        private bool RunSizes(Stage stage, IwarpConnection connection, ProbeClient probe, NegotiatedParameters parameters, ProbeAdvert advert, IEnumerable<int> sizes)
        {
            foreach (int size in sizes)
            {
                if (size > advert.MaxEcho || size > advert.Length)
                {
                    _o.Skipped.Add($"{VerdictRules.SizeText(size)} exceeds the server's limits ({advert.Length}-octet region, {advert.MaxEcho}-octet Sends)");
                    stage.Evidence.Add($"{size} octets: skipped, above the server's limits");
                    continue;
                }
                foreach (string op in (string[])["send", "write", "read"])
                {
                    if (Left < _timeouts.Operation)
                    {
                        _o.Skipped.Add($"{op} of {VerdictRules.SizeText(size)} and later: the {_timeouts.Total.TotalSeconds:0.#} s budget was spent");
                        stage.Evidence.Add($"stopped before {op} of {size} octets: the run's budget is spent");
                        return true;
                    }
                    ProbeResult? result = Step(stage, connection, op, size, () => op switch
                    {
                        "send" => probe.Send(size),
                        "write" => probe.Write(size),
                        _ => probe.Read(size),
                    });
                    if (result is null)
                    {
                        return false;
                    }
                    _o.Operations.Add(result);
                    stage.Evidence.Add($"{op} {VerdictRules.SizeText(size)}: {(result.Verified ? "verified" : "NOT verified")} in {Ms(result.Elapsed)} ms{(result.Verified ? "" : $": {result.Detail}")}");
                    if (!result.Verified)
                    {
                        // A completion with an error status means the connection failed (a Terminate, a reset): its error says why.
                        IwarpException? error = PathProbeRunner.ErrorOf(connection, null);
                        stage.Status = StageStatus.Failed;
                        if (error is not null)
                        {
                            stage.Evidence.Add($"{error.Kind}: {error.Message}");
                        }
                        _o.Failure = new OperationFailure(op, size, stage.Name, error, result.Detail);
                        return false;
                    }
                }
            }
            return true;
        }

        /// <summary>Runs one probe call; on failure records why (the connection's own error first) and returns null.</summary>
        private T? Step<T>(Stage stage, IwarpConnection connection, string op, int size, Func<T> call) where T : class
        {
            try
            {
                return call();
            }
            catch (Exception e) when (e is IwarpException or InvalidDataException)
            {
                IwarpException? error = PathProbeRunner.ErrorOf(connection, e);
                bool notProbe = error is null;
                stage.Status = StageStatus.Failed;
                stage.Evidence.Add($"{op}{(size > 0 ? $" {VerdictRules.SizeText(size)}" : "")}: {(error is null ? e.Message : $"{error.Kind}: {error.Message}")}");
                _o.Failure = new OperationFailure(op, size, stage.Name, error, error?.Message ?? e.Message, notProbe);
                return null;
            }
        }

        /// <summary>After a stall, a second connection tells a PMTU black hole (small passes, full segments do not) from a stopped flow.</summary>
        private void MaybePathProbe(Stage stage)
        {
            if (_o.Failure?.Error is not { Kind: IwarpErrorKind.Stall })
            {
                return;
            }
            TimeSpan step = _timeouts.PathProbe;
            if (Left < step)
            {
                stage.Evidence.Add("no time left in the run's budget for a second connection");
                return;
            }
            _o.PathProbe = PathProbeRunner.Run(_o.Target, options.Setup, step, Bounded);
            stage.Evidence.Add($"second connection: {_o.PathProbe.Detail}");
        }

        private void Teardown(IwarpConnection connection)
        {
            if (_o.Failure is not null)
            {
                _stages.Add(Stage.Skipped(StageNames.Teardown, $"the connection failed: {connection.Error?.Kind.ToString() ?? "data not verified"}"));
                return;
            }
            var stage = Begin(StageNames.Teardown, Bounded(_timeouts.Teardown));
            long sent = connection.BytesSent, received = connection.BytesReceived;
            connection.Close();
            stage.Evidence.Add($"closed with FIN after {sent} octets sent and {received} received ({connection.FpdusSent} FPDUs out, {connection.FpdusReceived} in)");
            Done(stage, 0);
        }

        // ---- stage bookkeeping ----

        private Stage Begin(string name, TimeSpan timeout)
        {
            var stage = new Stage(name, Bounded(timeout));
            _stages.Add(stage);
            return stage;
        }

        private static T Done<T>(Stage stage, T value)
        {
            stage.End();
            return value;
        }

        private void SkipFrom(string first, string why)
        {
            foreach (string name in StageNames.All.SkipWhile(n => n != first))
            {
                if (_stages.All(s => s.Name != name))
                {
                    _stages.Add(Stage.Skipped(name, why));
                }
            }
        }

        /// <summary>
        /// Puts what the capture saw into the stages: the wire times of the TCP handshake and the MPA exchange
        /// (the endpoint makes both in one call, so without a capture they share one time), ICMP errors, resets.
        /// </summary>
        private void AddCaptureEvidence()
        {
            Stage? tcp = _stages.FirstOrDefault(s => s.Name == StageNames.TcpConnect);
            Stage? mpa = _stages.FirstOrDefault(s => s.Name == StageNames.MpaExchange);
            CaptureEvidence? capture = _o.Capture;
            if (capture is null)
            {
                if (tcp is { Status: not StageStatus.Skipped } && mpa is { Status: not StageStatus.Skipped })
                {
                    tcp.Evidence.Add("time includes the MPA exchange: the endpoint connects and exchanges MPA in one call, and without a capture the two cannot be timed apart");
                }
                return;
            }
            FlowEvidence? flow = capture.Flow(_o.ClientPort);
            if (tcp is not null && flow is { FirstSynNanos: { } syn })
            {
                if (flow.SynAckNanos is { } synAck)
                {
                    var handshake = TimeSpan.FromTicks((synAck - syn) / 100);
                    tcp.Evidence.Add($"capture: SYN-ACK {Ms(handshake)} ms after the SYN; MSS {flow.ClientMss} (ours) / {flow.ServerMss} (server's)");
                    if (mpa is { Status: not StageStatus.Skipped })
                    {
                        tcp.Elapsed = handshake;
                        mpa.Elapsed = mpa.Elapsed > handshake ? mpa.Elapsed - handshake : TimeSpan.Zero;
                    }
                }
                else
                {
                    tcp.Evidence.Add($"capture: {flow.SynCount} SYN(s) sent, no SYN-ACK{(flow.RstNanos is not null ? ", answered by a reset" : "")}");
                }
            }
            else if (tcp is { Status: StageStatus.Failed })
            {
                tcp.Evidence.Add("capture: no SYN of this connection was seen on any interface");
            }
            if (flow is { RstNanos: not null } && tcp is not null)
            {
                Stage where = _stages.LastOrDefault(s => s.Status == StageStatus.Failed) ?? tcp;
                where.Evidence.Add($"capture: a reset {(flow.RstFromServer ? "from the server's address" : "from this host")}{(flow.RstTtl is { } ttl ? $" with TTL {ttl}" : "")}{(flow.ServerTtl is { } server ? $" (the server's packets arrive with TTL {server})" : "")}");
            }
            foreach (var same in capture.IcmpAbout(_o.ClientPort).GroupBy(i => (i.Sender, i.Type, i.Code, i.QuotedClientPort)))
            {
                Stage where = _stages.LastOrDefault(s => s.Status == StageStatus.Failed) ?? tcp!;
                int count = same.Count();
                where.Evidence.Add($"capture: {(count > 1 ? $"{count} × " : "")}{same.First()} about port {same.Key.QuotedClientPort} → {_o.Target.Port}");
            }
            if (mpa is { Status: not StageStatus.Skipped } && flow is { FirstClientDataNanos: { } request, FirstServerDataNanos: { } reply } && reply >= request)
            {
                mpa.Evidence.Add($"capture: the server's first octets {Ms(TimeSpan.FromTicks((reply - request) / 100))} ms after the MPA Request left");
            }
            if (mpa is { Status: StageStatus.Failed } && flow is not null)
            {
                mpa.Evidence.Add($"capture: {flow.ClientPayloadOctets} octets sent, {flow.ServerPayloadOctets} received on this connection");
            }
        }

        private static string Ms(TimeSpan span) => span.TotalMilliseconds.ToString(span.TotalMilliseconds < 10 ? "0.###" : "0.#", CultureInfo.InvariantCulture);
    }
}
