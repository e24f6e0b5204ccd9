// Package publish turns a build of the kit into a release a vendor hosts:
// the zipped function and the templates of each region where customers can
// launch the stack, uploaded to the vendor's regional buckets, and the
// per-customer Launch Stack link that opens the console's quick-create form
// with the customer's external ID filled in.
package publish
