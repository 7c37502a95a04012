package seed

// The word lists the generator draws from. Places are real towns with
// their local authority, postcode districts and (former) CCG; every name
// of a provider, location, person or practice is invented from the lists
// below.

// place is a town of England with what CQC's record of a location there
// holds.
type place struct {
	Town           string
	County         string
	LocalAuthority string
	Outward        []string // postcode districts
	AreaCode       string   // the landline dialling code
	CCGCode        string
	CCGName        string
	GPPrefix       string // the first three characters of its GP practices' ODS codes
}

// region is one of CQC's nine English regions, with its share of the
// country's locations (percent) and its places.
type region struct {
	Name   string
	Weight int
	Places []place
}

var regions = []region{
	{"London", 14, []place{
		{"London", "", "Camden", []string{"NW1", "NW3", "NW5", "WC1"}, "020", "93C", "NHS North Central London CCG", "F83"},
		{"London", "", "Hackney", []string{"E5", "E8", "E9", "N16"}, "020", "A3A8R", "NHS North East London CCG", "F84"},
		{"Croydon", "", "Croydon", []string{"CR0", "CR2", "CR7"}, "020", "36L", "NHS South West London CCG", "H83"},
		{"London", "", "Lewisham", []string{"SE4", "SE6", "SE13", "SE23"}, "020", "72Q", "NHS South East London CCG", "G85"},
		{"Wembley", "", "Brent", []string{"NW10", "HA0", "HA9"}, "020", "W2U3Z", "NHS North West London CCG", "E84"},
		{"London", "", "Barnet", []string{"N12", "N20", "NW4", "EN5"}, "020", "93C", "NHS North Central London CCG", "E83"},
		{"London", "", "Tower Hamlets", []string{"E1", "E3", "E14"}, "020", "A3A8R", "NHS North East London CCG", "F84"},
		{"London", "", "Ealing", []string{"W5", "W13", "UB6"}, "020", "W2U3Z", "NHS North West London CCG", "E85"},
	}},
	{"South East", 17, []place{
		{"Brighton", "East Sussex", "Brighton and Hove", []string{"BN1", "BN2", "BN3"}, "01273", "09D", "NHS Brighton and Hove CCG", "G81"},
		{"Maidstone", "Kent", "Kent", []string{"ME14", "ME15", "ME16"}, "01622", "91Q", "NHS Kent and Medway CCG", "G82"},
		{"Canterbury", "Kent", "Kent", []string{"CT1", "CT2"}, "01227", "91Q", "NHS Kent and Medway CCG", "G82"},
		{"Reading", "Berkshire", "Reading", []string{"RG1", "RG2", "RG4", "RG30"}, "0118", "15A", "NHS Berkshire West CCG", "K81"},
		{"Oxford", "Oxfordshire", "Oxfordshire", []string{"OX1", "OX3", "OX4"}, "01865", "10Q", "NHS Oxfordshire CCG", "K84"},
		{"Southampton", "Hampshire", "Southampton", []string{"SO14", "SO15", "SO16"}, "023", "D9Y0V", "NHS Hampshire, Southampton and Isle of Wight CCG", "J82"},
		{"Guildford", "Surrey", "Surrey", []string{"GU1", "GU2", "GU4"}, "01483", "92A", "NHS Surrey Heartlands CCG", "H81"},
		{"Milton Keynes", "Buckinghamshire", "Milton Keynes", []string{"MK9", "MK10", "MK14"}, "01908", "M1J4Y", "NHS Bedfordshire, Luton and Milton Keynes CCG", "K82"},
	}},
	{"South West", 11, []place{
		{"Bristol", "", "Bristol, City of", []string{"BS1", "BS3", "BS5", "BS7"}, "0117", "15C", "NHS Bristol, North Somerset and South Gloucestershire CCG", "L81"},
		{"Exeter", "Devon", "Devon", []string{"EX1", "EX2", "EX4"}, "01392", "15N", "NHS Devon CCG", "L83"},
		{"Plymouth", "Devon", "Plymouth", []string{"PL1", "PL4", "PL6"}, "01752", "15N", "NHS Devon CCG", "L83"},
		{"Truro", "Cornwall", "Cornwall", []string{"TR1", "TR2"}, "01872", "11N", "NHS Kernow CCG", "L82"},
		{"Gloucester", "Gloucestershire", "Gloucestershire", []string{"GL1", "GL2", "GL4"}, "01452", "11M", "NHS Gloucestershire CCG", "L84"},
		{"Bournemouth", "Dorset", "Bournemouth, Christchurch and Poole", []string{"BH1", "BH8", "BH9"}, "01202", "11J", "NHS Dorset CCG", "J81"},
		{"Swindon", "Wiltshire", "Swindon", []string{"SN1", "SN2", "SN5"}, "01793", "92G", "NHS Bath and North East Somerset, Swindon and Wiltshire CCG", "J83"},
	}},
	{"East", 11, []place{
		{"Norwich", "Norfolk", "Norfolk", []string{"NR1", "NR2", "NR3", "NR6"}, "01603", "26A", "NHS Norfolk and Waveney CCG", "D82"},
		{"Ipswich", "Suffolk", "Suffolk", []string{"IP1", "IP3", "IP4"}, "01473", "06L", "NHS Ipswich and East Suffolk CCG", "D83"},
		{"Cambridge", "Cambridgeshire", "Cambridgeshire", []string{"CB1", "CB2", "CB4"}, "01223", "06H", "NHS Cambridgeshire and Peterborough CCG", "D81"},
		{"Peterborough", "Cambridgeshire", "Peterborough", []string{"PE1", "PE2", "PE4"}, "01733", "06H", "NHS Cambridgeshire and Peterborough CCG", "D81"},
		{"Chelmsford", "Essex", "Essex", []string{"CM1", "CM2"}, "01245", "06Q", "NHS Mid Essex CCG", "F81"},
		{"Luton", "Bedfordshire", "Luton", []string{"LU1", "LU2", "LU4"}, "01582", "M1J4Y", "NHS Bedfordshire, Luton and Milton Keynes CCG", "E81"},
		{"St Albans", "Hertfordshire", "Hertfordshire", []string{"AL1", "AL3", "AL4"}, "01727", "06N", "NHS Herts Valleys CCG", "E82"},
	}},
	{"East Midlands", 9, []place{
		{"Nottingham", "Nottinghamshire", "Nottingham", []string{"NG1", "NG3", "NG5", "NG7"}, "0115", "52R", "NHS Nottingham and Nottinghamshire CCG", "C84"},
		{"Leicester", "Leicestershire", "Leicester", []string{"LE1", "LE2", "LE3", "LE4"}, "0116", "04C", "NHS Leicester City CCG", "C82"},
		{"Derby", "Derbyshire", "Derby", []string{"DE1", "DE22", "DE23"}, "01332", "15M", "NHS Derby and Derbyshire CCG", "C81"},
		{"Lincoln", "Lincolnshire", "Lincolnshire", []string{"LN1", "LN2", "LN6"}, "01522", "71E", "NHS Lincolnshire CCG", "C83"},
		{"Northampton", "Northamptonshire", "West Northamptonshire", []string{"NN1", "NN2", "NN3", "NN5"}, "01604", "78H", "NHS Northamptonshire CCG", "K83"},
		{"Chesterfield", "Derbyshire", "Derbyshire", []string{"S40", "S41", "S43"}, "01246", "15M", "NHS Derby and Derbyshire CCG", "C81"},
	}},
	{"West Midlands", 11, []place{
		{"Birmingham", "West Midlands", "Birmingham", []string{"B5", "B12", "B16", "B23", "B29"}, "0121", "15E", "NHS Birmingham and Solihull CCG", "M85"},
		{"Coventry", "West Midlands", "Coventry", []string{"CV1", "CV2", "CV3", "CV6"}, "024", "B2M3M", "NHS Coventry and Warwickshire CCG", "M86"},
		{"Wolverhampton", "West Midlands", "Wolverhampton", []string{"WV1", "WV3", "WV10"}, "01902", "D2P2L", "NHS Black Country and West Birmingham CCG", "M92"},
		{"Stoke-on-Trent", "Staffordshire", "Stoke-on-Trent", []string{"ST1", "ST3", "ST4"}, "01782", "05W", "NHS Stoke on Trent CCG", "M83"},
		{"Worcester", "Worcestershire", "Worcestershire", []string{"WR1", "WR2", "WR5"}, "01905", "18C", "NHS Herefordshire and Worcestershire CCG", "M81"},
		{"Shrewsbury", "Shropshire", "Shropshire", []string{"SY1", "SY2", "SY3"}, "01743", "M2L0M", "NHS Shropshire CCG", "M82"},
	}},
	{"North West", 13, []place{
		{"Manchester", "Greater Manchester", "Manchester", []string{"M4", "M8", "M13", "M14", "M20"}, "0161", "14L", "NHS Manchester CCG", "P84"},
		{"Liverpool", "Merseyside", "Liverpool", []string{"L1", "L4", "L8", "L15", "L18"}, "0151", "99A", "NHS Liverpool CCG", "N82"},
		{"Preston", "Lancashire", "Lancashire", []string{"PR1", "PR2", "PR5"}, "01772", "01E", "NHS Greater Preston CCG", "P81"},
		{"Bolton", "Greater Manchester", "Bolton", []string{"BL1", "BL2", "BL3"}, "01204", "00T", "NHS Bolton CCG", "P82"},
		{"Carlisle", "Cumbria", "Cumbria", []string{"CA1", "CA2", "CA3"}, "01228", "01H", "NHS North Cumbria CCG", "A82"},
		{"Chester", "Cheshire", "Cheshire West and Chester", []string{"CH1", "CH2", "CH3"}, "01244", "27D", "NHS Cheshire CCG", "N81"},
		{"Blackpool", "Lancashire", "Blackpool", []string{"FY1", "FY3", "FY4"}, "01253", "00R", "NHS Blackpool CCG", "P81"},
	}},
	{"North East", 5, []place{
		{"Newcastle upon Tyne", "Tyne and Wear", "Newcastle upon Tyne", []string{"NE1", "NE4", "NE6", "NE15"}, "0191", "13T", "NHS Newcastle Gateshead CCG", "A85"},
		{"Sunderland", "Tyne and Wear", "Sunderland", []string{"SR1", "SR2", "SR4"}, "0191", "00P", "NHS Sunderland CCG", "A89"},
		{"Middlesbrough", "North Yorkshire", "Middlesbrough", []string{"TS1", "TS4", "TS5"}, "01642", "16C", "NHS Tees Valley CCG", "A81"},
		{"Durham", "County Durham", "County Durham", []string{"DH1", "DH7"}, "0191", "84H", "NHS County Durham CCG", "A83"},
		{"Stockton-on-Tees", "County Durham", "Stockton-on-Tees", []string{"TS18", "TS19", "TS20"}, "01642", "16C", "NHS Tees Valley CCG", "A81"},
	}},
	{"Yorkshire and The Humber", 9, []place{
		{"Leeds", "West Yorkshire", "Leeds", []string{"LS1", "LS6", "LS8", "LS11", "LS17"}, "0113", "15F", "NHS Leeds CCG", "B86"},
		{"Sheffield", "South Yorkshire", "Sheffield", []string{"S1", "S6", "S10", "S11"}, "0114", "03N", "NHS Sheffield CCG", "C88"},
		{"Bradford", "West Yorkshire", "Bradford", []string{"BD1", "BD3", "BD7", "BD9"}, "01274", "36J", "NHS Bradford District and Craven CCG", "B82"},
		{"Hull", "East Riding of Yorkshire", "Kingston upon Hull, City of", []string{"HU1", "HU3", "HU5", "HU8"}, "01482", "03F", "NHS Hull CCG", "B81"},
		{"York", "North Yorkshire", "York", []string{"YO1", "YO10", "YO24", "YO31"}, "01904", "03M", "NHS Vale of York CCG", "B82"},
		{"Doncaster", "South Yorkshire", "Doncaster", []string{"DN1", "DN2", "DN4"}, "01302", "02X", "NHS Doncaster CCG", "C86"},
	}},
}

// inwardLetters are the letters of a postcode's inward code (never C, I,
// K, M, O or V).
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

var streets = []string{
	"High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane", "London Road",
	"Queens Road", "King Street", "Albert Road", "The Green", "Manor Road", "Grange Road", "Chapel Street",
	"North Street", "Springfield Road", "Bridge Street", "Kingsway", "Market Place", "Meadow Way",
	"Elm Grove", "Oak Avenue", "Windsor Road", "Richmond Road", "Westfield Road", "Stanley Road",
	"Cemetery Road", "Hall Lane", "Moor Lane", "School Lane", "Castle Street", "Broadway", "Newton Road",
	"Beech Drive", "Orchard Close", "Water Lane", "Priory Road", "Alexandra Road", "Cross Street", "Fore Street",
}

var businessParks = []string{
	"Riverside Business Park", "Enterprise House", "Kingfisher Court", "The Old Bank", "Gateway House",
	"Innovation Centre", "Brunel House", "Millennium Business Centre", "Phoenix Court", "Harbour House",
	"Oakfield House", "Crown Buildings", "Beacon Business Park", "Lakeside Offices",
}

// brands are the first words of an invented provider's name.
var brands = []string{
	"Acorn", "Bluebell", "Cedar", "Willow", "Heather", "Meadow", "Oakwood", "Primrose", "Rosewood", "Harmony",
	"Comfort", "Kindred", "Sunrise", "Evergreen", "Silverline", "Caring Hands", "Helping Hands", "Lavender",
	"Hollybush", "Kingfisher", "Brambles", "Thistle", "Juniper", "Magnolia", "Foxglove", "Swallow", "Heron",
	"Beacon", "Lighthouse", "Anchor", "Compass", "Horizon", "Haven", "Sanctuary", "Cornerstone", "Keystone",
	"Serenity", "Tranquil", "Gentle", "Trusted", "Loving", "Devoted", "Radiant", "Golden Years", "Silver Birch",
	"Orchard", "Riverside", "Hillside", "Valley", "Parkside", "Brookside", "Greenacres", "Fairfield", "Ashdown",
	"Beechwood", "Elmwood", "Hawthorn", "Larkspur", "Marigold", "Snowdrop", "Daffodil", "Poppy", "Clover",
	"Amber", "Sapphire", "Emerald", "Pearl", "Crystal", "Unity", "Kinship", "Together", "Companion", "Hearth",
	"Homestead", "Hometown", "Neighbourly", "Good Company", "Open Arms", "Warm Welcome", "First Choice",
}

var homeCareWords = []string{"Home Care", "Homecare", "Care Services", "Care at Home", "Domiciliary Care", "Care", "Healthcare", "Support Services", "Home Support"}

var careHomeWords = []string{"House", "Lodge", "Court", "Manor", "Grange", "View", "Nursing Home", "Care Home", "Hall", "Gardens"}

var companySuffixes = []string{"Ltd", "Limited", "Ltd", "Limited", "Ltd", "LLP", "CIC", "Limited"}

// nationalGroups name the few large providers with hundreds of locations.
var nationalGroups = []struct{ Name, Brand string }{
	{"Evergreen Care Group Ltd", "Evergreen Care"},
	{"Albion Home Care Services Limited", "Albion Home Care"},
	{"Cornerstone Healthcare Group Ltd", "Cornerstone Healthcare"},
	{"Harbour Care Homes Limited", "Harbour Care"},
	{"Nationwide Homecare Partnership Ltd", "Nationwide Homecare"},
	{"Oakleaf Living Ltd", "Oakleaf Living"},
	{"Beacon Support Group Limited", "Beacon Support"},
	{"Heritage Care Homes plc", "Heritage Care"},
}

var firstNames = []string{
	"Aisha", "Alan", "Amanda", "Amy", "Andrew", "Angela", "Anna", "Barbara", "Ben", "Bernadette", "Carol",
	"Catherine", "Charlotte", "Chloe", "Chris", "Claire", "Daniel", "David", "Deborah", "Donna", "Elaine",
	"Emma", "Fatima", "Fiona", "Gary", "Gemma", "Grace", "Hannah", "Helen", "Ian", "Imran", "Jackie",
	"James", "Jane", "Janet", "Jennifer", "Joanne", "John", "Julie", "Karen", "Kate", "Kelly", "Laura",
	"Lisa", "Louise", "Lucy", "Mandy", "Maria", "Mark", "Michelle", "Mohammed", "Nicola", "Olivia", "Patricia",
	"Paul", "Priya", "Rachel", "Rebecca", "Richard", "Samantha", "Sarah", "Sharon", "Simon", "Sophie",
	"Stephen", "Susan", "Tracey", "Victoria", "Wendy", "Yvonne", "Zoe", "Agnieszka", "Chidi", "Grzegorz",
	"Joseph", "Kwame", "Mei", "Nkechi", "Ravi", "Tomasz",
}

var surnames = []string{
	"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
	"Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
	"Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell", "Rose", "Davis", "Rodriguez", "Cox", "Alexander",
	"Morgan", "Moore", "Martin", "Price", "Bell", "Ali", "Hussain", "Begum", "Singh", "Kaur", "Shah", "Ahmed",
	"Cooper", "Ward", "Turner", "Hill", "Harris", "Clark", "Young", "King", "Scott", "Baker", "Adams", "Campbell",
	"Anderson", "Allen", "Cook", "Bailey", "Parker", "Miller", "Carter", "Murphy", "Kelly", "Nowak", "Kowalski",
	"Okafor", "Mensah", "Chen", "Nguyen", "Fernandes", "Gallagher", "Doherty", "Mahmood", "Osei", "Watson",
	"Hughes", "Edwards", "Collins", "Stewart", "Lloyd", "Marsh",
}

// The service types, specialisms and inspection categories of CQC's data.
const (
	serviceHomecare     = "Homecare agencies"
	serviceResidential  = "Residential homes"
	serviceNursing      = "Nursing homes"
	serviceSupported    = "Supported living"
	serviceExtraCare    = "Extra Care housing services"
	categoryCommunity   = "Community based adult social care services"
	categoryResidential = "Residential social care"
)

var specialisms = []string{
	"Caring for adults over 65 yrs", "Caring for adults under 65 yrs", "Dementia", "Physical disabilities",
	"Sensory impairments", "Learning disabilities", "Mental health conditions", "Caring for people whose rights are restricted under the Mental Health Act",
	"Substance misuse problems", "Eating disorders", "Caring for children (0 - 18yrs)", "Treatment of disease, disorder or injury",
}

// freeRoles are roles of the contact directory other than its list's.
var freeRoles = []string{
	"Deputy Manager", "Care Coordinator", "Nominated Individual", "Office Manager", "Training Lead",
	"Out of Hours On Call", "Finance Officer", "Registered Nurse Lead", "Plumber", "Maintenance",
}

var pharmacies = []string{"Boots Pharmacy", "Well Pharmacy", "Lloydspharmacy", "Rowlands Pharmacy", "Day Lewis Pharmacy", "%s Pharmacy", "%s Chemist"}

var practiceNames = []string{
	"%s Surgery", "%s Medical Centre", "%s Health Centre", "The %s Practice", "%s Medical Practice",
	"%s Family Practice", "%s Group Practice", "Dr %s & Partners",
}

// noteTexts are notes a location's users or support might leave;
// {name} is a person's first name, {n} a number.
var noteTexts = []string{
	"Spoke to {name} about capacity for the coming week: {n} packages of care could start on Monday.",
	"Called to confirm staffing over the bank holiday. {name} says all shifts are covered.",
	"Capacity update received by email from {name}; the tracker now matches it.",
	"Provider reports {n} care workers off sick. Travel times are stretched in the rural rounds.",
	"Discussed hospital discharges with {name}. Happy to take referrals for double-handed calls again.",
	"Vacancies: {n} beds from next week, one of them suitable for dementia care.",
	"Infection control visit done. No outbreak; visiting is open as normal.",
	"Manager changed: {name} is now the registered manager. Contact directory updated.",
	"Waiting list of {n} people for home care in the area. Provider prioritises hospital discharges.",
	"Recruitment drive under way; {n} new carers in induction this month.",
	"Spoke to {name}: the office is moving next month. Phone numbers stay the same.",
	"Fuel costs are hitting the rural rounds: the provider may hand back {n} packages.",
	"Support call: {name} could not log in; password reset sent.",
	"PAMMS visit booked for next month with the local authority's quality team.",
	"CQC inspection this week. {name} will update the tracker afterwards.",
	"Night service restarted with {n} waking night staff.",
	"Checked the contact details with {name}; all correct.",
	"Provider asked how to add a second site to their account. Explained the approval process.",
	"Home closed to admissions for {n} days after a norovirus outbreak.",
	"{name} confirmed the new out-of-hours number for the on-call manager.",
	"Handed back {n} packages of care in the north of the patch because of staffing.",
	"Agreed weekly capacity calls with {name} during winter pressures.",
}

// noteEdits are what an edit appends to a note's text.
var noteEdits = []string{
	"Update: confirmed by email.", "Correction: it is the week after.", "Follow-up call booked for Friday.",
	"Now resolved.", "Update: {name} called back to confirm.",
}

// ownershipWeights orders location.OwnershipTypes() with their shares
// (percent): Independent, Local Authority, NHS, Voluntary / Not for profit.
var ownershipWeights = []int{86, 5, 1, 8}
