using System.Text.Json;
using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

public class DeviceReportTests
{
    private static DevicesReport Build(string fixture, IRdmaUserspace? userspace = null)
    {
        using var f = SysfsFixture.Load(fixture);
        return DeviceReportBuilder.Build(f.Host, userspace ?? new FakeUserspace());
    }

    [Fact]
    public void Cxgb4Fixture_Scanned_ReportsIwarpPfWithSettingsAndNetdev()
    {
        var report = Build("cxgb4.tree");

        var d = Assert.Single(report.Devices);
        Assert.Equal(("cxgb4_0", "cxgb4", "iWARP", "RNIC"), (d.Name, d.Driver, d.Transport, d.NodeType));
        Assert.Equal("0007:4306:48b0:0000", d.NodeGuid);
        Assert.Equal("1.27.4.0", d.Firmware);
        Assert.Equal("0000:03:00.4", d.PciAddress);
        Assert.Equal(new SriovReport("pf", 4, 16, null), d.Sriov);
        var port = Assert.Single(d.Ports);
        Assert.Equal(("ACTIVE", "LinkUp", "Ethernet"), (port.State, port.PhysState, port.LinkLayer));
        var gid = Assert.Single(port.Gids);
        Assert.Equal((0, "0007:4306:48b0:0000:0000:0000:0000:0000"), (gid.Index, gid.Gid));
        var netdev = Assert.Single(d.Netdevs);
        Assert.Equal(("enp3s0f4", 9000, "00:07:43:06:48:b0", "up"), (netdev.Name, netdev.Mtu, netdev.Mac, netdev.OperState));
        Assert.Equal(["10.0.2.20/24", "fe80::207:43ff:fe06:48b0/64"], netdev.Addresses);
        Assert.Equal("/sys/module/iw_cxgb4/parameters", d.DriverSettings!.Source);
        Assert.Equal("2", d.DriverSettings.Values["mpa_rev"]);
        Assert.Equal("1", d.DriverSettings.Values["p2p_type"]);
        Assert.Contains(d.DriverSettings.Notes, n => n.StartsWith("mpa_rev=2: MPA v2", StringComparison.Ordinal));
        Assert.Contains(d.DriverSettings.Notes, n => n.Contains("zero-length RDMA Read", StringComparison.Ordinal));
    }

    [Fact]
    public void Cxgb4Fixture_IwpmdNotRunning_ReportsNeededAndProblemWithFix()
    {
        var report = Build("cxgb4.tree");

        Assert.True(report.Iwpmd.Needed);
        Assert.False(report.Iwpmd.Running);
        var problem = Assert.Single(report.Problems);
        Assert.Equal("iwpmd_not_running", problem.Code);
        Assert.Contains("systemctl enable --now iwpmd", problem.Fixes[0]);
    }

    [Fact]
    public void Cxgb4Fixture_BareMetal_DetectedFromDmiAndCpuFlags()
    {
        var host = Build("cxgb4.tree").Host;

        Assert.Equal(("bare_metal", false, false, "bare metal"), (host.Kind, host.InVm, host.InContainer, host.Summary));
    }

    [Fact]
    public void IrdmaFixture_AuxiliaryParent_DriverIrdmaConfigfsAndIwpmdRunning()
    {
        var report = Build("irdma.tree");

        var d = Assert.Single(report.Devices);
        Assert.Equal(("rdmap175s0f0", "irdma", "iWARP"), (d.Name, d.Driver, d.Transport));
        Assert.Equal("ens801f0", Assert.Single(d.Netdevs).Name);
        Assert.Equal(["198.51.100.7/24"], d.Netdevs[0].Addresses);
        Assert.Equal("/sys/kernel/config/irdma/rdmap175s0f0", d.DriverSettings!.Source);
        Assert.Equal("1", d.DriverSettings.Values["iw_ecn_enable"]);
        Assert.Equal("3", d.DriverSettings.Values["module.limits_sel"]);
        Assert.Equal((true, 812, true), (report.Iwpmd.Running, report.Iwpmd.Pid, report.Iwpmd.Needed));
        Assert.Empty(report.Problems);
    }

    [Fact]
    public void SiwFixture_VirtualDevice_NetdevFromRdmaLinkAndNoIwpmdNeeded()
    {
        var report = Build("siw.tree");

        var d = Assert.Single(report.Devices);
        Assert.Equal(("siw0", "siw", "iWARP", null), (d.Name, d.Driver, d.Transport, d.PciAddress));
        var netdev = Assert.Single(d.Netdevs);
        Assert.Equal(("dummy0", 1500), (netdev.Name, netdev.Mtu));
        Assert.Equal(["10.9.9.1/24"], netdev.Addresses);
        Assert.Null(d.Sriov);
        Assert.Contains(d.DriverSettings!.Notes, n => n.Contains("no iwpmd", StringComparison.Ordinal));
        Assert.False(report.Iwpmd.Needed);
        Assert.Empty(report.Problems);
        Assert.Equal(("vm", "qemu"), (report.Host.Kind, report.Host.Hypervisor));
    }

    [Fact]
    public void RxeFixture_CaWithEthernetLinkLayer_IsRoceWithGidNetdevs()
    {
        var report = Build("rxe.tree");

        var d = Assert.Single(report.Devices);
        Assert.Equal(("rxe0", "rxe", "RoCE", "CA"), (d.Name, d.Driver, d.Transport, d.NodeType));
        var gids = d.Ports[0].Gids;
        Assert.Equal(2, gids.Count);
        Assert.All(gids, g => Assert.Equal(("RoCE v2", "eth1"), (g.Type, g.Netdev)));
        Assert.Equal("eth1", Assert.Single(d.Netdevs).Name);
        Assert.Null(d.DriverSettings);
    }

    [Fact]
    public void SriovFixture_PfAndVf_RolesAndPhysfn()
    {
        var report = Build("sriov-vf.tree");

        Assert.Equal(["mlx5_0", "mlx5_2"], report.Devices.Select(d => d.Name));
        var pf = report.Devices[0];
        var vf = report.Devices[1];
        Assert.Equal(("mlx5", "RoCE"), (pf.Driver, pf.Transport));
        Assert.Equal(new SriovReport("pf", 2, 8, null), pf.Sriov);
        Assert.Equal(new SriovReport("vf", null, null, "0000:3b:00.0"), vf.Sriov);
        Assert.Equal("ens1f0v0", Assert.Single(vf.Netdevs).Name);
        Assert.Equal("DOWN", vf.Ports[0].State);
    }

    [Fact]
    public void NoRdmaKernelFixture_ConfigInfinibandOff_NamesCauseAndFixFirst()
    {
        var report = Build("no-rdma-kernel.tree", FakeUserspace.NoKernelRdma());

        Assert.Empty(report.Devices);
        var problem = report.Problems[0];
        Assert.Equal("kernel_without_rdma", problem.Code);
        Assert.Contains("6.18.44-fc-v669", problem.Message);
        Assert.Contains("/boot/config-6.18.44-fc-v669: # CONFIG_INFINIBAND is not set", problem.Evidence);
        Assert.Contains("/sys/class/infiniband does not exist", problem.Evidence);
        Assert.Contains(problem.Evidence, e => e.Contains("ENOSYS", StringComparison.Ordinal));
        Assert.Contains(problem.Fixes, f => f.Contains("CONFIG_INFINIBAND=m", StringComparison.Ordinal));
        Assert.Contains(problem.Fixes, f => f.Contains("rdmadiag check HOST --soft", StringComparison.Ordinal));
        Assert.Contains(problem.Fixes, f => f.Contains("host's kernel", StringComparison.Ordinal));
        Assert.Equal("eth0", report.Kernel.DefaultRouteInterface);
    }

    [Fact]
    public void NoRdmaKernelFixture_DockerInVm_ContainerInsideUnidentifiedVm()
    {
        var host = Build("no-rdma-kernel.tree", FakeUserspace.NoKernelRdma()).Host;

        Assert.Equal(("container", "docker", true, null), (host.Kind, host.Container, host.InVm, host.Hypervisor));
        Assert.Equal("container (docker) inside a VM (hypervisor: not identified)", host.Summary);
    }

    [Fact]
    public void SiwUnlinkedFixture_CoreLoadedNoDevice_GivesModprobeAndExactRdmaLinkForDefaultRoute()
    {
        var report = Build("siw-unlinked.tree");

        Assert.True(report.Kernel.SiwAvailable);
        Assert.True(report.Kernel.RxeAvailable);
        var problem = Assert.Single(report.Problems);
        Assert.Equal("siw_not_linked", problem.Code);
        Assert.Equal("modprobe siw", problem.Fixes[0]);
        Assert.Equal("rdma link add siw0 type siw netdev ens3", problem.Fixes[1]);
        Assert.Contains("(RoCEv2 instead of iWARP: rdma link add rxe0 type rxe netdev ens3)", problem.Fixes);
        Assert.Contains("default route via ens3 (/proc/net/route)", problem.Evidence);
    }

    [Fact]
    public void LibrariesMissing_AnyFixture_NamesDebianPackages()
    {
        var report = Build("siw.tree", new FakeUserspace(librariesAvailable: false));

        var problem = Assert.Single(report.Problems);
        Assert.Equal("rdma_core_libraries_missing", problem.Code);
        Assert.Equal("apt-get install libibverbs1 librdmacm1 ibverbs-providers rdma-core", Assert.Single(problem.Fixes));
    }

    [Fact]
    public void VerbsDetails_Merged_FillPortMtu()
    {
        var verbs = new VerbsDetails(null, "iWARP", "0.0.0", "0x626d74", 0, 1024, 1024, 4096, 1024, 32, 32,
            [new VerbsPortDetails(1, "ACTIVE", 1024, 4096, "Ethernet")]);
        var report = Build("siw.tree", new FakeUserspace(devices: new Dictionary<string, VerbsDetails> { ["siw0"] = verbs }));

        var port = report.Devices[0].Ports[0];
        Assert.Equal((1024, 4096), (port.ActiveMtu, port.MaxMtu));
        Assert.Equal("0x626d74", report.Devices[0].Verbs!.VendorId);
    }

    [Fact]
    public void Json_Cxgb4Report_HasStableSnakeCaseKeys()
    {
        var json = DevicesOutput.ToJson(Build("cxgb4.tree"));

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(["host", "kernel", "libraries", "devices", "iwpmd", "problems"], root.EnumerateObject().Select(p => p.Name));
        var device = root.GetProperty("devices")[0];
        Assert.Equal(
            ["name", "driver", "transport", "node_type", "node_guid", "sys_image_guid", "firmware", "hardware_revision", "board_id",
             "pci_address", "ports", "netdevs", "sriov", "driver_settings", "verbs"],
            device.EnumerateObject().Select(p => p.Name));
        Assert.Equal("pf", device.GetProperty("sriov").GetProperty("role").GetString());
        Assert.Equal(16, device.GetProperty("sriov").GetProperty("total_vfs").GetInt32());
        Assert.Equal("2", device.GetProperty("driver_settings").GetProperty("values").GetProperty("mpa_rev").GetString());
        Assert.Equal("bare_metal", root.GetProperty("host").GetProperty("kind").GetString());
        Assert.False(root.GetProperty("iwpmd").GetProperty("running").GetBoolean());
    }

    [Fact]
    public void Text_NoRdmaKernel_ShowsProblemEvidenceAndFix()
    {
        var text = DevicesOutput.ToText(Build("no-rdma-kernel.tree", FakeUserspace.NoKernelRdma()));

        Assert.Contains("devices: none", text);
        Assert.Contains("problem [kernel_without_rdma]:", text);
        Assert.Contains("  seen: /sys/class/infiniband does not exist", text);
        Assert.Contains("  fix:  boot a kernel built with CONFIG_INFINIBAND=m", text);
    }

    [Theory]
    [InlineData("siw0", "Software iWARP stack", "cxgb4", "siw")]
    [InlineData("siwA", null, "virtio_net", "siw")]
    [InlineData("rocep59s0f0", null, "mlx5_core", "mlx5")]
    [InlineData("iwp3s0f4", null, "cxgb4", "cxgb4")]
    [InlineData("rxe0", "rxe", "e1000e", "rxe")]
    [InlineData("weird0", null, null, "unknown")]
    [InlineData("weird1", null, "some_nic", "some_nic")]
    public void Driver_FromNameDescAndParent_Identified(string name, string? nodeDesc, string? parentDriver, string expected)
    {
        Assert.Equal(expected, SysfsDeviceScanner.Driver(name, nodeDesc, parentDriver));
    }

    [Fact]
    public void DefaultRoute_SeveralDefaults_LowestMetricUpRouteWins()
    {
        const string Route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
                             "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
                             "down0\t00000000\t0101A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n" +
                             "ens3\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";

        Assert.Equal("ens3", KernelProbe.DefaultRouteInterface(Route));
        Assert.Null(KernelProbe.DefaultRouteInterface("Iface\tDestination\n"));
    }

    [Fact]
    public void RdmaLink_Output_MapsDeviceToNetdev()
    {
        var links = SysfsDeviceScanner.ParseRdmaLink(
            "link siw0/1 state ACTIVE physical_state LINK_UP netdev dummy0 \nlink mlx5_0/1 state DOWN physical_state DISABLED\n");

        Assert.Equal("dummy0", Assert.Single(links).Value);
    }

    [NoRdmaKernelFact]
    public void LiveHost_KernelWithoutRdma_ReportsNoDeviceAndACause()
    {
        var report = DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance);

        Assert.Empty(report.Devices);
        Assert.NotEmpty(report.Problems);
        Assert.Contains(Errno.Name(Errno.ENOSYS)!, report.Libraries.DeviceListError);
    }
}
