using System.Net;
using System.Net.Sockets;

namespace RdmaDiag.Tests.Netns;

[Trait("Tier", "netns")]
public class NetLabTests
{
    [NetLabFact]
    public void Create_Routed_ClientReachesServerThroughTheRouterAndDisposeRemovesAll()
    {
        string[] namespaces;
        using (var lab = NetLab.Create())
        {
            namespaces = [lab.Client.Namespace, lab.Router!.Namespace, lab.Server.Namespace];
            Assert.All(namespaces, ns => Assert.True(File.Exists($"/var/run/netns/{ns}"), ns));
            Assert.Equal("1", lab.Router.ReadSysctl("net.ipv4.ip_forward"));
            Assert.Contains("198.51.100.2/24", lab.Server.Exec("ip", "-o", "addr", "show", "dev", "eth0"));

            using var listener = lab.Server.Run(() =>
            {
                var l = new TcpListener(lab.Server.Address, 9000);
                l.Start();
                return l;
            });
            Task<Socket> accepted = listener.AcceptSocketAsync();
            using Socket client = lab.Client.Run(() =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Connect(new IPEndPoint(lab.Server.Address, 9000));
                return s;
            });
            using Socket server = accepted.Result;
            Assert.Equal(lab.Client.Address, ((IPEndPoint)server.RemoteEndPoint!).Address);
            Assert.Equal("192.0.2.2", ((IPEndPoint)client.LocalEndPoint!).Address.ToString());
        }
        Assert.All(namespaces, ns => Assert.False(File.Exists($"/var/run/netns/{ns}"), ns));
    }

    [NetLabFact]
    public void Node_SysctlMtuAndNftables_AppliedInsideItsNamespaceOnly()
    {
        using var lab = NetLab.Create(router: false);
        Assert.Null(lab.Router);
        Assert.Equal("192.0.2.3", lab.Server.Address.ToString());

        lab.Client.Sysctl("net.ipv4.tcp_syn_retries", "2");
        lab.Client.SetMtu("eth0", 1280);
        lab.Server.Nft("table inet labtest { chain input { type filter hook input priority 0; tcp dport 9 drop; }; }");

        Assert.Equal("2", lab.Client.ReadSysctl("net.ipv4.tcp_syn_retries"));
        Assert.NotEqual("2", lab.Server.ReadSysctl("net.ipv4.tcp_syn_retries"));
        Assert.Contains("mtu 1280", lab.Client.Exec("ip", "link", "show", "dev", "eth0"));
        Assert.Contains("tcp dport 9 drop", lab.Server.Exec("nft", "list", "ruleset"));
        Assert.DoesNotContain("labtest", lab.Client.Exec("nft", "list", "ruleset"));
    }

    [NetLabFact]
    public void Node_Start_RunsInTheNamespaceAndIsKilledOnDispose()
    {
        int pid;
        using (var lab = NetLab.Create(router: false))
        {
            var process = lab.Server.Start("sleep", "60");
            pid = process.Id;
            Assert.False(process.WaitForExit(200));
            Assert.True(Directory.Exists($"/proc/{pid}"));
        }
        Assert.False(Directory.Exists($"/proc/{pid}"));
    }
}
