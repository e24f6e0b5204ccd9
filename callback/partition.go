package callback

import (
	"fmt"
	"net/url"

	"github.com/rolecall/rolecall/internal/partition"
)

// STSPartition is where the identity proofs of one AWS partition are signed
// and sent: the partition's regional STS endpoint that every account of it
// can reach (the global endpoint exists in the commercial partition only).
type STSPartition struct {
	// Name is the partition: aws, aws-us-gov or aws-cn.
	Name     string
	Endpoint string
	Region   string
}

// The partitions rolecall knows, with the STS endpoints AWS documents for
// them.
var stsPartitions = []STSPartition{
	{Name: "aws", Endpoint: DefaultSTSEndpoint, Region: DefaultSTSRegion},
	{Name: "aws-us-gov", Endpoint: "https://sts.us-gov-west-1.amazonaws.com", Region: "us-gov-west-1"},
	{Name: "aws-cn", Endpoint: "https://sts.cn-north-1.amazonaws.com.cn", Region: "cn-north-1"},
}

// Partitions returns the partitions rolecall knows.
func Partitions() []STSPartition { return append([]STSPartition(nil), stsPartitions...) }

// PartitionSTS returns where a partition's proofs are signed and sent.
func PartitionSTS(name string) (STSPartition, error) {
	for _, p := range stsPartitions {
		if p.Name == name {
			return p, nil
		}
	}
	return STSPartition{}, fmt.Errorf("unknown AWS partition %q: use aws, aws-us-gov or aws-cn", name)
}

// PartitionOfRegion names the partition a region belongs to.
func PartitionOfRegion(region string) string { return partition.OfRegion(region) }

// verifierEndpoint is one STS endpoint a verifier accepts proofs for.
type verifierEndpoint struct {
	url       *url.URL
	host      string
	region    string
	partition string // empty for an endpoint given explicitly
}
