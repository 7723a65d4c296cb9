-- The source database of the `astro dev start` stack (docker-compose.override.yml, service
-- sqlserver-init): the captured tables of the contract, change data capture on each, a small catalog.
-- Generated from include/dbt/models/staging/*.yml by `python -m devstack.sqlserver_init`; do not edit.
-- Every step is skipped when done, so the script runs at every start.

IF DB_ID(N'ConcordDb') IS NULL
    CREATE DATABASE [ConcordDb];
GO

USE [ConcordDb];
GO

IF NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = DB_NAME() AND is_cdc_enabled = 1)
    EXEC sys.sp_cdc_enable_db;
GO

-- dbo.Product: stg_product, 8 rows
IF OBJECT_ID(N'[dbo].[Product]', N'U') IS NULL
BEGIN
    CREATE TABLE [dbo].[Product] (
        [ID] bigint NOT NULL,
        [NetUID] uniqueidentifier NULL,
        [VendorCode] nvarchar(50) NULL,
        [MainOriginalNumber] nvarchar(100) NULL,
        [Barcode] varchar(20) NULL,
        [ErpCode] varchar(30) NULL,
        [Name] nvarchar(255) NULL,
        [NameUA] nvarchar(255) NULL,
        [NamePL] nvarchar(255) NULL,
        [NameEN] nvarchar(255) NULL,
        [NameDE] nvarchar(255) NULL,
        [Description] nvarchar(max) NULL,
        [DescriptionUA] nvarchar(max) NULL,
        [DescriptionPL] nvarchar(max) NULL,
        [DescriptionEN] nvarchar(max) NULL,
        [SearchKeywords] nvarchar(1000) NULL,
        [SupplierID] int NULL,
        [SupplierName] nvarchar(200) NULL,
        [SupplierCode] varchar(30) NULL,
        [Brand] nvarchar(100) NULL,
        [CountryOfOrigin] char(2) NULL,
        [ProductGroupID] int NULL,
        [CategoryName] nvarchar(200) NULL,
        [MeasureUnit] nvarchar(10) NULL,
        [Status] tinyint NULL,
        [Weight] decimal(10,3) NULL,
        [Length] decimal(10,2) NULL,
        [Width] decimal(10,2) NULL,
        [Height] decimal(10,2) NULL,
        [DiscontinuedAt] datetime2(3) NULL,
        [PurchasePrice] money NULL,
        [RetailPrice] money NULL,
        [WholesalePrice] money NULL,
        [MinimalPrice] smallmoney NULL,
        [CurrencyCode] char(3) NULL,
        [VatRate] decimal(5,2) NULL,
        [DiscountPercent] decimal(5,2) NULL,
        [IsForSale] bit NULL,
        [IsForWeb] bit NULL,
        [LastSoldAt] datetime2(6) NULL,
        [IsOnSale] bit NULL,
        [IsHazardous] bit NULL,
        [IsOversized] bit NULL,
        [IsDeleted] bit NULL,
        [CatalogSyncedAt] datetimeoffset NULL,
        [MinOrderQty] int NULL,
        [PackQty] smallint NULL,
        [WarrantyMonths] smallint NULL,
        [Rating] real NULL,
        [PopularityScore] float NULL,
        [Created] datetime2(7) NULL,
        [Updated] datetime2(7) NULL,
        [PriceUpdated] datetime NULL,
        [AvailableFrom] date NULL,
        CONSTRAINT [PK_Product] PRIMARY KEY ([ID])
    );
    INSERT INTO [dbo].[Product] ([ID], [NetUID], [VendorCode], [MainOriginalNumber], [Barcode], [ErpCode], [Name], [NameUA], [NamePL], [NameEN], [NameDE], [Description], [DescriptionUA], [DescriptionPL], [DescriptionEN], [SearchKeywords], [SupplierID], [SupplierName], [SupplierCode], [Brand], [CountryOfOrigin], [ProductGroupID], [CategoryName], [MeasureUnit], [Status], [Weight], [Length], [Width], [Height], [DiscontinuedAt], [PurchasePrice], [RetailPrice], [WholesalePrice], [MinimalPrice], [CurrencyCode], [VatRate], [DiscountPercent], [IsForSale], [IsForWeb], [LastSoldAt], [IsOnSale], [IsHazardous], [IsOversized], [IsDeleted], [CatalogSyncedAt], [MinOrderQty], [PackQty], [WarrantyMonths], [Rating], [PopularityScore], [Created], [Updated], [PriceUpdated], [AvailableFrom]) VALUES
        (1001, N'1A61DBE2-2E44-458B-AE97-BA94D0EDA82F', N'TRW-57931', N'9 159 619 319', N'6613186091390', N'ERP0001001', N'Spark plug TRW VW Golf VII', N'Свічка запалювання TRW VW Golf VII', N'Świeca zapłonowa TRW VW Golf VII', N'Spark plug TRW for VW Golf VII', N'Zündkerze TRW VW Golf VII', N'Spark plug by TRW. Fits VW Golf VII.', N'Свічка запалювання TRW. Підходить для VW Golf VII.', N'Świeca zapłonowa TRW. Pasuje do VW Golf VII.', N'Spark plug by TRW, fits VW Golf VII.', N'spark plug, trw, vw golf vii', 14, N'Vladislav', N'VLAD', N'TRW', N'CZ', 103, N'Ignition', N'pcs', 1, 0.099, 581.60, 638.91, 372.40, NULL, 726.1300, 980.2755, 856.8334, 762.4365, N'UAH', 20.00, 0.00, 1, 1, N'2025-12-09T15:49:53.253298', 0, 0, 0, 0, N'2026-01-02T04:50:43.408217+00:00', 1, 1, 6, 3.75, 30.8482, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2025-05-06'),
        (1002, N'CC011CDD-9474-431B-BF26-144B98289FCD', N'FEB-86750', N'7 470 406 354', N'3194875749118', N'ERP0001002', N'Water pump Febi Bilstein Hyundai Tucson NX4', N'Водяний насос Febi Bilstein Hyundai Tucson NX4', N'Pompa wody Febi Bilstein Hyundai Tucson NX4', N'Water pump Febi Bilstein for Hyundai Tucson NX4', NULL, N'Water pump by Febi Bilstein. Fits Hyundai Tucson NX4.', N'Водяний насос Febi Bilstein. Підходить для Hyundai Tucson NX4.', N'Pompa wody Febi Bilstein. Pasuje do Hyundai Tucson NX4.', N'Water pump by Febi Bilstein, fits Hyundai Tucson NX4.', N'water pump, febi bilstein, hyundai tucson nx4', 14, N'Vladislav', N'VLAD', N'Febi Bilstein', N'DE', 105, N'Engine', N'pcs', 1, 1.295, 456.21, 839.97, 944.68, NULL, 3894.1200, 5257.0620, 4595.0616, 4088.8260, N'EUR', 20.00, 0.00, 1, 0, N'2025-12-13T05:38:07.269099', 1, 0, 0, 0, N'2026-01-02T02:16:10.936384+00:00', 1, 1, 24, 2.75, 69.5295, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2017-10-25'),
        (1003, N'66D22876-72FD-4202-AA96-FB1A14A0F9E7', N'SAC-47302', N'6 784 455 123', NULL, N'ERP0001003', N'Starter motor Sachs Mercedes C W205', N'Стартер Sachs Mercedes C W205', N'Rozrusznik Sachs Mercedes C W205', N'Starter motor Sachs for Mercedes C W205', N'Anlasser Sachs Mercedes C W205', N'Starter motor by Sachs. Fits Mercedes C W205.', N'Стартер Sachs. Підходить для Mercedes C W205.', N'Rozrusznik Sachs. Pasuje do Mercedes C W205.', N'Starter motor by Sachs, fits Mercedes C W205.', N'starter motor, sachs, mercedes c w205', 16, N'', N'UNK', N'Sachs', N'DE', 106, N'Electrics', N'pcs', 1, 4.968, 549.44, 883.38, 819.28, NULL, 8938.4200, 12066.8670, 10547.3356, 9385.3410, N'UAH', 20.00, 0.00, 1, 1, N'2025-12-09T12:56:51.708055', 0, 0, 0, 0, N'2025-12-16T02:08:40.623802+00:00', 1, 1, 36, 5.0, 87.1422, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2018-05-11'),
        (1004, N'FC132D0D-113D-417D-B0CB-C97D0FEF7928', N'FEB-40583', N'0 596 951 703', N'4026859952890', N'ERP0001004', N'Shock absorber Febi Bilstein Skoda Octavia III', N'Амортизатор Febi Bilstein Skoda Octavia III', NULL, N'Shock absorber Febi Bilstein for Skoda Octavia III', NULL, N'Shock absorber by Febi Bilstein. Fits Skoda Octavia III.', N'Амортизатор Febi Bilstein. Підходить для Skoda Octavia III.', NULL, N'Shock absorber by Febi Bilstein, fits Skoda Octavia III.', N'shock absorber, febi bilstein, skoda octavia iii', 12, N'Auto Partner', N'AP', N'Febi Bilstein', N'DE', 104, N'Suspension', N'pcs', 1, 5.783, 208.76, 162.30, 340.05, NULL, 1651.8600, 2230.0110, 1949.1948, 1734.4530, N'PLN', 20.00, 0.00, 1, 1, N'2026-01-02T16:44:41.892648', 0, 0, 0, 0, N'2026-01-05T05:43:41.405685+00:00', 1, 1, 6, 3.25, 63.429, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2024-04-26'),
        (1005, N'7A86F7A2-43C7-4B9A-BD87-A86557B6FB7E', N'MAN-90487', N'6 252 749 358', NULL, N'ERP0001005', N'Timing belt kit Mann-Filter Mercedes C W205', N'Комплект ГРМ Mann-Filter Mercedes C W205', N'Zestaw rozrządu Mann-Filter Mercedes C W205', N'Timing belt kit Mann-Filter for Mercedes C W205', N'Zahnriemensatz Mann-Filter Mercedes C W205', N'Timing belt kit by Mann-Filter. Fits Mercedes C W205.', N'Комплект ГРМ Mann-Filter. Підходить для Mercedes C W205.', N'Zestaw rozrządu Mann-Filter. Pasuje do Mercedes C W205.', N'Timing belt kit by Mann-Filter, fits Mercedes C W205.', N'timing belt kit, mann-filter, mercedes c w205', 13, N'Elit Ukraine', N'ELIT', N'Mann-Filter', N'DE', 105, N'Engine', N'set', 1, 1.169, 828.86, 161.44, 23.10, NULL, 307.4700, 415.0845, 362.8146, 322.8435, N'EUR', 20.00, 0.00, 0, 1, N'2025-12-10T14:32:07.620676', 0, 0, 0, 0, N'2025-12-29T03:11:44.276412+00:00', 1, 4, 6, 2.0, 10.2188, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2019-12-04'),
        (1006, N'F47AEBDD-597A-4ECF-BCF0-0FECB91EE9E5', N'CAS-44224', N'8 475 271 464', N'8885393363387', N'ERP0001006', N'Brake pad set Castrol Ford Focus III', N'Комплект гальмівних колодок Castrol Ford Focus III', N'Klocki hamulcowe Castrol Ford Focus III', N'Brake pad set Castrol for Ford Focus III', N'Bremsbelagsatz Castrol Ford Focus III', N'Brake pad set by Castrol. Fits Ford Focus III.', N'Комплект гальмівних колодок Castrol. Підходить для Ford Focus III.', N'Klocki hamulcowe Castrol. Pasuje do Ford Focus III.', N'Brake pad set by Castrol, fits Ford Focus III.', N'brake pad set, castrol, ford focus iii', 15, N'Omega', N'OMG', N'Castrol', N'GB', 101, N'Brakes', N'set', 1, 0.459, 974.51, 80.54, 102.16, NULL, 8808.2300, 11891.1105, 10393.7114, 9248.6415, N'EUR', 20.00, 0.00, 1, 1, N'2025-12-13T10:19:01.793739', 0, 0, 0, 0, N'2025-12-19T20:30:26.785699+00:00', 1, 4, 24, 3.25, 80.8566, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2020-08-08'),
        (1007, N'28AACA51-B98C-47C2-95BD-448FF26149ED', N'HEL-94296', N'1 954 776 222', NULL, N'ERP0001007', N'Water pump Hella VW Golf VII', N'Водяний насос Hella VW Golf VII', N'Pompa wody Hella VW Golf VII', N'Water pump Hella for VW Golf VII', N'Wasserpumpe Hella VW Golf VII', N'Water pump by Hella. Fits VW Golf VII.', N'Водяний насос Hella. Підходить для VW Golf VII.', N'Pompa wody Hella. Pasuje do VW Golf VII.', N'Water pump by Hella, fits VW Golf VII.', N'water pump, hella, vw golf vii', 17, N'Bus Market', N'BM', N'Hella', N'DE', 105, N'Engine', N'pcs', 1, 2.143, 170.00, 127.04, 151.15, NULL, 4356.9000, 5881.8150, 5141.1420, 4574.7450, N'UAH', 20.00, 0.00, 1, 1, N'2025-12-13T15:49:24.154322', 1, 0, 0, 0, N'2025-12-29T03:41:40.358719+00:00', 1, 1, 36, 3.25, 40.1387, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2016-09-29'),
        (1008, N'26DEBFDB-8825-4E56-A179-B37D806C10B5', N'CON-12804', N'0 918 843 765', N'2633043483954', N'ERP0001008', N'Water pump Continental BMW 3 F30', N'Водяний насос Continental BMW 3 F30', N'Pompa wody Continental BMW 3 F30', N'Water pump Continental for BMW 3 F30', N'Wasserpumpe Continental BMW 3 F30', N'Water pump by Continental. Fits BMW 3 F30.', N'Водяний насос Continental. Підходить для BMW 3 F30.', N'Pompa wody Continental. Pasuje do BMW 3 F30.', N'Water pump by Continental, fits BMW 3 F30.', N'water pump, continental, bmw 3 f30', 16, N'', N'UNK', N'Continental', N'DE', 105, N'Engine', N'pcs', 1, 1.058, 523.51, 18.70, 440.12, NULL, 1470.7400, 1985.4990, 1735.4732, 1544.2770, N'PLN', 20.00, 0.00, 1, 1, N'2025-12-27T08:39:49.361885', 0, 0, 0, 0, N'2026-01-05T01:25:05.186265+00:00', 1, 1, 36, 4.75, 91.7721, N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000000', N'2026-01-05T06:00:00.000', N'2017-01-19');
END;
GO

IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'[dbo].[Product]'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'Product', @role_name = NULL, @supports_net_changes = 0;
GO

-- dbo.ProductAnalogue: stg_product_analogue, 9 rows
IF OBJECT_ID(N'[dbo].[ProductAnalogue]', N'U') IS NULL
BEGIN
    CREATE TABLE [dbo].[ProductAnalogue] (
        [ID] bigint NOT NULL,
        [ProductID] bigint NULL,
        [AnalogueProductID] bigint NULL,
        [Kind] nvarchar(20) NULL,
        [Created] datetime2(7) NULL,
        CONSTRAINT [PK_ProductAnalogue] PRIMARY KEY ([ID]),
        CONSTRAINT [FK_ProductAnalogue_ProductID] FOREIGN KEY ([ProductID]) REFERENCES [dbo].[Product] ([ID]),
        CONSTRAINT [FK_ProductAnalogue_AnalogueProductID] FOREIGN KEY ([AnalogueProductID]) REFERENCES [dbo].[Product] ([ID])
    );
    INSERT INTO [dbo].[ProductAnalogue] ([ID], [ProductID], [AnalogueProductID], [Kind], [Created]) VALUES
        (700001, 1002, 1004, N'cross_reference', N'2026-01-05T06:00:00.000000'),
        (700002, 1004, 1005, N'cross_reference', N'2026-01-05T06:00:00.000000'),
        (700003, 1005, 1008, N'replacement', N'2026-01-05T06:00:00.000000'),
        (700004, 1005, 1002, N'equivalent', N'2026-01-05T06:00:00.000000'),
        (700005, 1006, 1005, N'replacement', N'2026-01-05T06:00:00.000000'),
        (700006, 1006, 1003, N'equivalent', N'2026-01-05T06:00:00.000000'),
        (700007, 1007, 1001, N'replacement', N'2026-01-05T06:00:00.000000'),
        (700008, 1007, 1002, N'cross_reference', N'2026-01-05T06:00:00.000000'),
        (700009, 1008, 1004, N'replacement', N'2026-01-05T06:00:00.000000');
END;
GO

IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'[dbo].[ProductAnalogue]'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'ProductAnalogue', @role_name = NULL, @supports_net_changes = 0;
GO

-- dbo.ProductAvailability: stg_product_availability, 12 rows
IF OBJECT_ID(N'[dbo].[ProductAvailability]', N'U') IS NULL
BEGIN
    CREATE TABLE [dbo].[ProductAvailability] (
        [ID] bigint NOT NULL,
        [ProductID] bigint NULL,
        [WarehouseID] int NULL,
        [WarehouseName] nvarchar(100) NULL,
        [Quantity] decimal(12,3) NULL,
        [ReservedQuantity] decimal(12,3) NULL,
        [Updated] datetime2(7) NULL,
        CONSTRAINT [PK_ProductAvailability] PRIMARY KEY ([ID]),
        CONSTRAINT [FK_ProductAvailability_ProductID] FOREIGN KEY ([ProductID]) REFERENCES [dbo].[Product] ([ID])
    );
    INSERT INTO [dbo].[ProductAvailability] ([ID], [ProductID], [WarehouseID], [WarehouseName], [Quantity], [ReservedQuantity], [Updated]) VALUES
        (500001, 1001, 2, N'Lviv West', 72.000, 15.000, N'2026-01-05T06:00:00.000000'),
        (500002, 1002, 2, N'Lviv West', 97.000, 8.000, N'2026-01-05T06:00:00.000000'),
        (500003, 1003, 5, N'Dnipro East', 258.000, 19.000, N'2026-01-05T06:00:00.000000'),
        (500004, 1003, 5, N'Dnipro East', 132.000, 17.000, N'2026-01-05T06:00:00.000000'),
        (500005, 1004, 2, N'Lviv West', 219.000, 2.000, N'2026-01-05T06:00:00.000000'),
        (500006, 1005, 4, N'Warsaw Hub', 112.000, 3.000, N'2026-01-05T06:00:00.000000'),
        (500007, 1006, 5, N'Dnipro East', 206.000, 10.000, N'2026-01-05T06:00:00.000000'),
        (500008, 1006, 5, N'Dnipro East', 234.000, 14.000, N'2026-01-05T06:00:00.000000'),
        (500009, 1007, 2, N'Lviv West', 53.000, 2.000, N'2026-01-05T06:00:00.000000'),
        (500010, 1008, 3, N'Odesa South', 207.000, 4.000, N'2026-01-05T06:00:00.000000'),
        (500011, 1008, 1, N'Kyiv Central', 137.000, 0.000, N'2026-01-05T06:00:00.000000'),
        (500012, 1008, 1, N'Kyiv Central', 232.000, 0.000, N'2026-01-05T06:00:00.000000');
END;
GO

IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'[dbo].[ProductAvailability]'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'ProductAvailability', @role_name = NULL, @supports_net_changes = 0;
GO

-- dbo.ProductOEMNumber: stg_product_oem_number, 13 rows
IF OBJECT_ID(N'[dbo].[ProductOEMNumber]', N'U') IS NULL
BEGIN
    CREATE TABLE [dbo].[ProductOEMNumber] (
        [ID] bigint NOT NULL,
        [ProductID] bigint NULL,
        [OEMNumber] nvarchar(100) NULL,
        [Manufacturer] nvarchar(100) NULL,
        [Created] datetime2(7) NULL,
        CONSTRAINT [PK_ProductOEMNumber] PRIMARY KEY ([ID]),
        CONSTRAINT [FK_ProductOEMNumber_ProductID] FOREIGN KEY ([ProductID]) REFERENCES [dbo].[Product] ([ID])
    );
    INSERT INTO [dbo].[ProductOEMNumber] ([ID], [ProductID], [OEMNumber], [Manufacturer], [Created]) VALUES
        (900001, 1001, N'1G3 419 743 B', N'Skoda', N'2026-01-05T06:00:00.000000'),
        (900002, 1002, N'5J0 356 137', N'VAG', N'2026-01-05T06:00:00.000000'),
        (900003, 1002, N'9H3 557 208 AC', N'Opel', N'2026-01-05T06:00:00.000000'),
        (900004, 1003, N'4J3 952 823 A', N'Hyundai', N'2026-01-05T06:00:00.000000'),
        (900005, 1003, N'2J6 267 156', N'Hyundai', N'2026-01-05T06:00:00.000000'),
        (900006, 1004, N'1H2 261 375 AC', N'VAG', N'2026-01-05T06:00:00.000000'),
        (900007, 1004, N'6G0 416 323 B', N'Renault', N'2026-01-05T06:00:00.000000'),
        (900008, 1005, N'5G3 616 894', N'Toyota', N'2026-01-05T06:00:00.000000'),
        (900009, 1005, N'1H0 406 411 A', N'Toyota', N'2026-01-05T06:00:00.000000'),
        (900010, 1006, N'8G4 841 733 A', N'VAG', N'2026-01-05T06:00:00.000000'),
        (900011, 1007, N'9K9 917 828 A', N'Toyota', N'2026-01-05T06:00:00.000000'),
        (900012, 1007, N'6K6 955 562', N'VAG', N'2026-01-05T06:00:00.000000'),
        (900013, 1008, N'8K8 648 194', N'Opel', N'2026-01-05T06:00:00.000000');
END;
GO

IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'[dbo].[ProductOEMNumber]'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'ProductOEMNumber', @role_name = NULL, @supports_net_changes = 0;
GO
