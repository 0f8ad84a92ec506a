using System.Net.Sockets;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Endpoint;
using RdmaDiag.Tests.Netns;
using Xunit.Abstractions;
using static RdmaDiag.Tests.CheckVerb.CheckMatrix;

namespace RdmaDiag.Tests.CheckVerb;

/// <summary>
/// The failure matrix of `rdmadiag check`: client, router and server namespaces, nftables rules, and as the
/// server `serve --soft` (in process), plain TCP servers, or scripted MPA responders. One test per cause id;
/// each asserts the cause and the evidence that names it. Every case's cause and time to verdict are written
/// to the test output (and to $RDMADIAG_CHECK_MATRIX when set).
/// </summary>
[Trait("Tier", "netns")]
public sealed class CheckNetnsTests(ITestOutputHelper output)
{
    private static string Chain(string hook, string rule) =>
        $"table inet rdcheck {{ chain {hook} {{ type filter hook {hook} priority 0; policy accept; {rule}; }}; }}";

    /// <summary>A new lab, <paramref name="prepare"/> applied to it, serve --soft in the server namespace, and one check from the client.</summary>
    private CheckReport AgainstServe(string name, IwarpSetupOptions? serve = null, Action<NetLab>? prepare = null, Func<CheckOptions, CheckOptions>? check = null)
    {
        using var lab = NetLab.Create();
        prepare?.Invoke(lab);
        using var peer = ServePeer.Start(lab.Server, serve);
        return Run(lab, output, name, check);
    }

    /// <summary>A new lab whose server runs <paramref name="script"/> on each connection, and one check from the client.</summary>
    private CheckReport AgainstScript(string name, Action<Socket> script, Func<CheckOptions, CheckOptions>? check = null)
    {
        using var lab = NetLab.Create();
        using var peer = ScriptedPeer.Start(lab.Server, script);
        return Run(lab, output, name, check);
    }

    private static Func<CheckOptions, CheckOptions> With(Func<IwarpSetupOptions, IwarpSetupOptions> setup) => o => o with { Setup = setup(o.Setup) };

    /// <summary>The router passes a connection's first 300 kB towards the server, then applies <paramref name="verdict"/> (conntrack byte counting).</summary>
    private static void CutFlowAfter300KB(NetNode router, string verdict)
    {
        router.Nft(Chain("forward", $"tcp dport 7174 ct original bytes > 300000 {verdict}"));
        router.Sysctl("net.netfilter.nf_conntrack_acct", "1");
    }

    [NetLabFact]
    public void Ok_ServeSoftAcrossRouter_VerifiesSendWriteReadUpTo1MiB()
    {
        CheckReport report = AgainstServe("ok");

        Assert.Equal(CheckCauses.Ok, report.Cause);
        Assert.All(report.Stages, s => Assert.Equal(StageStatus.Ok, s.Status));
        Assert.Equal(12, report.Operations.Count(o => o.Verified));
        Assert.Equal(1 << 20, report.Operations.Max(o => o.Size));
        Assert.NotNull(report.Parameters);
        Assert.Contains("via 192.0.2.1 dev eth0 src 192.0.2.2 mtu 1500", Evidence(report));
        Assert.NotNull(report.Capture);
        Assert.DoesNotContain(report.Findings, f => f.Severity == Diagnostics.Findings.FindingSeverity.Error);
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(10), $"took {report.Elapsed}");
    }

    [NetLabFact]
    public void NoRoute_ClientWithoutDefaultRoute_StopsAtRouteStage()
    {
        using var lab = NetLab.Create();
        lab.Client.Exec("ip", "route", "del", "default");

        CheckReport report = Run(lab, output, "no route");

        Assert.Equal(CheckCauses.NoRoute, report.Cause);
        Assert.Equal(StageStatus.Failed, report.Stage(StageNames.Route).Status);
        Assert.Equal(StageStatus.Skipped, report.Stage(StageNames.TcpConnect).Status);
        Assert.Contains("no route to this network", Evidence(report));
        Assert.Contains("errno 101", report.Verdict.Sentence);
    }

    /// <summary>Firewall rules on the server, the router or this host, against the TCP handshake.</summary>
    public static TheoryData<string, string, string, string, string, FirewallSide, string?, string> Firewalls => new()
    {
        { "nft drop (server)", "server", "input", "tcp dport 7174 drop", "tcp-filtered", FirewallSide.Remote, "tcp-syn-unanswered", "SYNs to 198.51.100.2:7174 left this host" },
        { "nft drop (client input)", "client", "input", "tcp sport 7174 drop", "tcp-filtered", FirewallSide.Local, null, "SYN-ACK reached this host's interface" },
        { "nft reject tcp reset (server)", "server", "input", "tcp dport 7174 reject with tcp reset", "tcp-refused", FirewallSide.Server, "tcp-syn-rst", "answered the connection request (SYN) with a reset" },
        { "nft reject tcp reset (router)", "router", "forward", "tcp dport 7174 reject with tcp reset", "tcp-refused", FirewallSide.Path, "tcp-syn-rst", "TTL 64, zero hops away" },
        { "icmp port-unreachable (server)", "server", "input", "tcp dport 7174 reject with icmp type port-unreachable", "icmp-unreachable", FirewallSide.Server, "icmp-unreachable", "with ICMP type 3 code 3 (port unreachable)" },
        { "icmp host-unreachable (router)", "router", "forward", "tcp dport 7174 reject with icmp type host-unreachable", "icmp-unreachable", FirewallSide.Path, "icmp-unreachable", "The router 192.0.2.1 on the path answered the connection request to 198.51.100.2:7174 with ICMP type 3 code 1 (host unreachable)" },
        { "icmp admin-prohibited (server)", "server", "input", "tcp dport 7174 reject with icmp type admin-prohibited", "icmp-unreachable", FirewallSide.Server, "icmp-admin-prohibited", "code 13 (communication administratively prohibited)" },
    };

    [NetLabTheory]
    [MemberData(nameof(Firewalls))]
    public void Firewall_RuleAgainstTheHandshake_CauseSideAndEvidence(string name, string node, string hook, string rule, string cause, FirewallSide side, string? finding, string text)
    {
        CheckReport report = AgainstServe(name, prepare: lab => (node switch
        {
            "client" => lab.Client,
            "router" => lab.Router!,
            _ => lab.Server,
        }).Nft(Chain(hook, rule)));

        Assert.Equal(cause, report.Cause.Id);
        Assert.Equal(side, report.Verdict.Side);
        Assert.Contains(text, report.Verdict.Sentence);
        if (finding is not null)
        {
            Assert.Contains(report.Findings, f => f.RuleId == finding);
        }
        Assert.Equal(StageStatus.Failed, report.Stage(StageNames.TcpConnect).Status);
        Assert.Equal(5000, report.Stage(StageNames.TcpConnect).Timeout.TotalMilliseconds);
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(8), $"took {report.Elapsed}");
    }

    [NetLabFact]
    public void TcpRefused_NoListener()
    {
        using var lab = NetLab.Create();

        CheckReport report = Run(lab, output, "no listener");

        Assert.Equal(CheckCauses.TcpRefused, report.Cause);
        Assert.Contains(report.Findings, f => f.RuleId == "tcp-syn-rst");
        Assert.Contains("nothing listens on port 7174", report.Verdict.Sentence);
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(3), $"took {report.Elapsed}");
    }

    [NetLabFact]
    public void NotIwarp_PlainServerAnswersWithABanner()
    {
        CheckReport report = AgainstScript("plain TCP server with a banner", ScriptedPeer.Banner("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"u8.ToArray()));

        Assert.Equal(CheckCauses.NotIwarp, report.Cause);
        Assert.Contains("an SSH banner", report.Verdict.Sentence);
        Assert.Contains("|SSH-2.0-OpenSSH", report.Verdict.Sentence);
        Assert.Equal(StageStatus.Ok, report.Stage(StageNames.TcpConnect).Status);
        Assert.Equal(StageStatus.Failed, report.Stage(StageNames.MpaExchange).Status);
    }

    [NetLabFact]
    public void NotIwarp_PlainServerNeverAnswers_WaitsTheMpaTimeout()
    {
        CheckReport report = AgainstScript("plain TCP server, silent", ScriptedPeer.Silent);

        Assert.Equal(CheckCauses.NotIwarp, report.Cause);
        Assert.Contains("sent nothing in the 5 s after the MPA Request", report.Verdict.Sentence);
        Assert.Contains(report.Findings, f => f.RuleId == "mpa-request-no-reply");
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(8), $"took {report.Elapsed}");
    }

    [NetLabFact]
    public void MpaRejected_ResponderRejectsWithPrivateData()
    {
        CheckReport report = AgainstScript("MPA reject", ScriptedPeer.Mpa(request => Reply(request, rejected: true, privateData: "no such service"u8.ToArray())));

        Assert.Equal(CheckCauses.MpaRejected, report.Cause);
        Assert.Contains("15 octet(s) of private data", report.Verdict.Sentence);
        Assert.Contains("|no such service|", report.Verdict.Sentence);
        Assert.Contains(report.Findings, f => f.RuleId == "mpa-reply-rejected");
    }

    [NetLabFact]
    public void MpaMarkers_CheckAsksForMarkers_ServeRefusesThemLikeSiw()
    {
        CheckReport report = AgainstServe("markers demanded, peer has none", serve: IwarpSetupOptions.Default with { AcceptPeerMarkers = false }, check: With(s => s with { RequestMarkers = true }));

        Assert.Equal(CheckCauses.MpaMarkers, report.Cause);
        Assert.Contains("--markers, M=1", report.Verdict.Sentence);
        Assert.Contains("MPA Request Rev 2 M S", Evidence(report));
    }

    [NetLabFact]
    public void MpaCrc_CheckRequiresCrc_ServeForbidsIt()
    {
        CheckReport report = AgainstServe("CRC required vs forbidden", serve: IwarpSetupOptions.Default with { Crc = CrcPolicy.Forbidden }, check: With(s => s with { Crc = CrcPolicy.Required }));

        Assert.Equal(CheckCauses.MpaCrc, report.Cause);
        Assert.Contains("--crc required", report.Verdict.Sentence);
        Assert.Contains("C=0", report.Verdict.Sentence);
    }

    [NetLabFact]
    public void MpaRtr_CheckOffersSendRtr_ServeTakesWriteOrRead()
    {
        CheckReport report = AgainstServe("P2P RTR mismatch", check: With(s => s with { PeerToPeer = RtrTypes.Send }));

        Assert.Equal(CheckCauses.MpaRtr, report.Cause);
        Assert.Contains("can send send", report.Verdict.Sentence);
        Assert.Contains("accepts write+read", report.Verdict.Sentence);
    }

    [NetLabFact]
    public void MpaRevision_Rev1OnlyResponderClosesOnRev2_RetryProvesIt()
    {
        CheckReport report = AgainstServe("MPA rev 2 vs rev-1-only responder", serve: IwarpSetupOptions.Default with { MpaRevision = 1 });

        Assert.Equal(CheckCauses.MpaRevision, report.Cause);
        Assert.Contains("retry with MPA Rev 1: a Rev 1 Request was accepted", Evidence(report));
        Assert.Contains("--mpa-rev 1", report.Verdict.Fix);
    }

    [NetLabFact]
    public void MpaIrdOrd_ServerIrdZero_ReadsCannotRun()
    {
        CheckReport report = AgainstServe("IRD 0 vs needed reads", serve: IwarpSetupOptions.Default with { Ird = 0 });

        Assert.Equal(CheckCauses.MpaIrdOrd, report.Cause);
        Assert.Contains("offered IRD 0", report.Verdict.Sentence);
        Assert.Contains(report.Operations, o => o is { Operation: "write", Verified: true });
        Assert.DoesNotContain(report.Operations, o => o.Operation == "read");
    }

    [NetLabFact]
    public void Terminate_Rev1ResponderWithIrdZero_AnswersReadWithTerminate()
    {
        CheckReport report = AgainstServe("Terminate (IRD overrun)", serve: IwarpSetupOptions.Default with { MpaRevision = 1, Ird = 0 }, check: With(s => s with { MpaRevision = 1 }));

        Assert.Equal(CheckCauses.Terminate, report.Cause);
        Assert.Contains("layer Rdmap (0), type 2, code 0x07", report.Verdict.Sentence);
        Assert.Contains("IRD", report.Verdict.Fix);
        Assert.Contains(report.Findings, f => f.RuleId == "rdmap-terminate");
    }

    [NetLabFact]
    public void PmtuBlackhole_RouterMtu1280AndFragNeededDropped()
    {
        CheckReport report = AgainstServe("PMTU black hole (router MTU 1280)", prepare: lab =>
        {
            lab.Router!.SetMtu("eth0", 1280);
            lab.Router.SetMtu("eth1", 1280);
            lab.Router.Nft(Chain("output", "icmp type destination-unreachable icmp code frag-needed drop"));
        });

        Assert.Equal(CheckCauses.PmtuBlackhole, report.Cause);
        Assert.Equal(FirewallSide.Path, report.Verdict.Side);
        Assert.Equal(StageStatus.Ok, report.Stage(StageNames.RdmaOps).Status);
        Assert.Equal(StageStatus.Failed, report.Stage(StageNames.LargeMessages).Status);
        Assert.Contains("64-octet messages pass", report.Verdict.Sentence);
        Assert.Contains("No ICMP 'fragmentation needed' reached this host", report.Verdict.Sentence);
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(15), $"took {report.Elapsed}");
    }

    [NetLabFact]
    public void Stall_RouterDropsTheFlowAfter300KB_NewConnectionStillWorks()
    {
        CheckReport report = AgainstServe("drop mid-stream", prepare: lab => CutFlowAfter300KB(lab.Router!, "drop"));

        Assert.Equal(CheckCauses.Stall, report.Cause);
        Assert.Contains("second connection: connected", Evidence(report));
        Assert.Contains("a new connection to the same server carries 64-octet and full-segment messages", report.Verdict.Sentence);
        Assert.Contains(report.Operations, o => o is { Size: 65536, Verified: true });
    }

    [NetLabFact]
    public void Reset_RouterResetsTheFlowAfter300KB_TtlPointsAtThePath()
    {
        CheckReport report = AgainstServe("RST mid-stream (router)", prepare: lab => CutFlowAfter300KB(lab.Router!, "reject with tcp reset"));

        Assert.Equal(CheckCauses.Reset, report.Cause);
        Assert.Equal(FirewallSide.Path, report.Verdict.Side);
        Assert.Contains("the reset arrived with TTL 64 but the server's packets arrive with TTL 63", report.Verdict.Sentence);
        Assert.Contains(report.Findings, f => f.RuleId == "tcp-rst-mid-stream");
    }

    [NetLabFact]
    public void MpaInvalid_ReplyFollowedByStrayOctets()
    {
        CheckReport report = AgainstScript("malformed MPA Reply", ScriptedPeer.Mpa(request => [.. Reply(request), .. "early"u8]));

        Assert.Equal(CheckCauses.MpaInvalid, report.Cause);
        Assert.Contains("octet(s) followed the MPA Reply", report.Verdict.Sentence);
    }

    [NetLabFact]
    public void PeerClosed_ResponderClosesAfterTheFirstFpdu()
    {
        CheckReport report = AgainstScript("peer closes mid-stream", ScriptedPeer.Mpa(request => Reply(request), socket =>
        {
            ReadAtLeast(socket, 16);
            socket.Shutdown(SocketShutdown.Send);
            ScriptedPeer.Drain(socket);
        }));

        Assert.Equal(CheckCauses.PeerClosed, report.Cause);
        Assert.Contains("closed the connection during hello", report.Verdict.Sentence);
    }

    [NetLabFact]
    public void Corrupt_ResponderSendsAnFpduWithABadCrc()
    {
        CheckReport report = AgainstScript("FPDU with a bad CRC", ScriptedPeer.Mpa(request => Reply(request, crc: true), socket =>
        {
            ReadAtLeast(socket, 16);
            socket.Send(SendFpdu(new byte[64], corruptCrc: true));
            ScriptedPeer.Drain(socket);
        }), check: With(s => s with { Crc = CrcPolicy.Required }));

        Assert.Equal(CheckCauses.Corrupt, report.Cause);
        Assert.Contains("CRC32c", report.Verdict.Sentence);
        Assert.Contains("this side found it in the server's", report.Verdict.Sentence);
    }

    [NetLabFact]
    public void ProbeUnsupported_IwarpResponderThatIsNotServeSoft()
    {
        CheckReport report = AgainstScript("iWARP peer without the probe protocol", ScriptedPeer.Mpa(request => Reply(request), socket =>
        {
            ReadAtLeast(socket, 16);
            socket.Send(SendFpdu("not a probe answer"u8));
            ScriptedPeer.Drain(socket);
        }));

        Assert.Equal(CheckCauses.ProbeUnsupported, report.Cause);
        Assert.Contains("is not `rdmadiag serve --soft`", report.Verdict.Sentence);
        Assert.Equal(StageStatus.Ok, report.Stage(StageNames.MpaExchange).Status);
    }

    [NetLabFact]
    public void Cli_CheckInClientNamespace_PrintsJsonAndExitsWithTheCauseCode()
    {
        using var lab = NetLab.Create();
        using var serve = ServePeer.Start(lab.Server);
        string dll = typeof(Cli.CliRoot).Assembly.Location;

        var ok = lab.Client.Start("dotnet", dll, "check", lab.Server.Address.ToString(), "--json");
        string json = ok.StandardOutput.ReadToEnd();
        ok.WaitForExit();
        var refused = lab.Client.Start("dotnet", dll, "check", lab.Server.Address.ToString(), "--port", "7175", "--no-capture");
        string text = refused.StandardOutput.ReadToEnd();
        refused.WaitForExit();
        output.WriteLine(json);
        output.WriteLine(text);

        Assert.Equal(0, ok.ExitCode);
        using var document = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("ok", document.RootElement.GetProperty("verdict").GetString());
        Assert.Equal(7, document.RootElement.GetProperty("stages").GetArrayLength());
        Assert.Equal(CheckCauses.TcpRefused.ExitCode, refused.ExitCode);
        Assert.Contains("verdict: tcp-refused (exit 11)", text);
        Assert.Contains("capture: not available (--no-capture was given)", text);
    }
}
